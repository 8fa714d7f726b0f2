// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the upcall's one promise: every queued job ends exactly once, whoever ends it
 * (job-done, the watchdog, the daemon going away) and however they race. Included by
 * daedalus-nl.c in the module's KUnit build only (make DAEDALUS_KUNIT=y, tools/build-module.sh:
 * build/module-kunit/); the suite runs when that module is loaded into a kernel with KUnit.
 *
 * The tests stand in for the daemon: they mark a socket port attached, move jobs to the in-flight
 * list as job-get does, and end them as job-done does, while the watchdogs run.
 */
#include <kunit/test.h>
#include <linux/delay.h>

#define DAEDALUS_TEST_PORT	0x7ffffff0u

/**
 * struct daedalus_test_job - a job that counts how often it ended
 * @job:	the job
 * @ends:	times its end ran
 * @status:	the status of its last end
 * @done:	completed by its end
 */
struct daedalus_test_job {
	struct daedalus_job job;
	atomic_t ends;
	int status;
	struct completion done;
};

static void daedalus_test_end(struct daedalus_job *job, int status, struct genl_info *info)
{
	struct daedalus_test_job *t = container_of(job, struct daedalus_test_job, job);

	t->status = status;
	atomic_inc(&t->ends);
	complete(&t->done);
}

static const struct daedalus_job_ops daedalus_test_ops = {
	.end = daedalus_test_end,
};

static void daedalus_test_job_init(struct daedalus_test_job *t, unsigned long timeout)
{
	daedalus_job_init(&t->job, DAEDALUS_JOB_KIND_DECODE, 0, &daedalus_test_ops, timeout);
	atomic_set(&t->ends, 0);
	t->status = 1;
	init_completion(&t->done);
}

/*
 * What job-get does to a job, without a reply: pending to in flight, if it is still pending
 * (job-get takes jobs off the pending list; one the watchdog already ended is on no list).
 */
static void daedalus_test_take(struct daedalus_job *job)
{
	mutex_lock(&upcall.lock);
	if (!list_empty(&job->node))
		list_move_tail(&job->node, &upcall.inflight);
	mutex_unlock(&upcall.lock);
}

static int daedalus_test_init(struct kunit *test)
{
	mutex_lock(&upcall.lock);
	if (upcall.attached) {
		mutex_unlock(&upcall.lock);
		kunit_skip(test, "a daemon is attached");
	}
	upcall.attached = true;
	upcall.portid = DAEDALUS_TEST_PORT;
	mutex_unlock(&upcall.lock);
	return 0;
}

static void daedalus_test_exit(struct kunit *test)
{
	daedalus_detach(DAEDALUS_TEST_PORT, "test over");
}

/* job-done and the watchdog race for the same in-flight job: one of them ends it, once. */
static void daedalus_test_done_vs_watchdog(struct kunit *test)
{
	unsigned int i, by_done = 0, by_watchdog = 0;
	struct daedalus_test_job *t;

	t = kunit_kzalloc(test, sizeof(*t), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, t);
	for (i = 0; i < 200; i++) {
		struct daedalus_job *found;

		daedalus_test_job_init(t, 1);
		KUNIT_ASSERT_EQ(test, daedalus_job_queue(&t->job), 0);
		daedalus_test_take(&t->job);
		/* land around the watchdog's jiffy */
		udelay((i % 40) * 100);
		found = daedalus_take_inflight(t->job.id);
		if (found) {
			KUNIT_EXPECT_PTR_EQ(test, found, &t->job);
			daedalus_job_end(found, 0, NULL);
			by_done++;
		} else {
			by_watchdog++;
		}
		KUNIT_ASSERT_GT(test, wait_for_completion_timeout(&t->done, HZ), 0);
		/* as the job's owner does before it reuses or frees the job */
		cancel_delayed_work_sync(&t->job.watchdog);
		KUNIT_EXPECT_EQ(test, atomic_read(&t->ends), 1);
		KUNIT_EXPECT_EQ(test, t->status, found ? 0 : -ETIMEDOUT);
	}
	kunit_info(test, "200 races: %u ended by job-done, %u by the watchdog\n", by_done,
		   by_watchdog);
}

/* A job taken back (cancel) does not end; one that could not be taken back ends once. */
static void daedalus_test_cancel_vs_watchdog(struct kunit *test)
{
	unsigned int i, cancelled = 0;
	struct daedalus_test_job *t;

	t = kunit_kzalloc(test, sizeof(*t), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, t);
	for (i = 0; i < 200; i++) {
		bool mine;

		daedalus_test_job_init(t, 1);
		KUNIT_ASSERT_EQ(test, daedalus_job_queue(&t->job), 0);
		udelay((i % 40) * 100);
		mine = daedalus_job_cancel(&t->job);
		if (mine) {
			cancelled++;
			KUNIT_EXPECT_EQ(test, atomic_read(&t->ends), 0);
		} else {
			KUNIT_ASSERT_GT(test, wait_for_completion_timeout(&t->done, HZ), 0);
			cancel_delayed_work_sync(&t->job.watchdog);
			KUNIT_EXPECT_EQ(test, atomic_read(&t->ends), 1);
		}
	}
	kunit_info(test, "200 races: %u taken back, %u ended by the watchdog\n", cancelled,
		   200 - cancelled);
}

/* The daemon goes away: every pending and in-flight job fails once; then none is queued. */
static void daedalus_test_detach(struct kunit *test)
{
	struct daedalus_test_job *t;
	unsigned int i;

	t = kunit_kcalloc(test, 8, sizeof(*t), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, t);
	for (i = 0; i < 8; i++) {
		/* half with a watchdog that would fire much later */
		daedalus_test_job_init(&t[i], i % 2 ? 10 * HZ : 0);
		KUNIT_ASSERT_EQ(test, daedalus_job_queue(&t[i].job), 0);
		if (i < 4)
			daedalus_test_take(&t[i].job);
	}
	daedalus_detach(DAEDALUS_TEST_PORT, "test");
	for (i = 0; i < 8; i++) {
		KUNIT_EXPECT_EQ(test, atomic_read(&t[i].ends), 1);
		KUNIT_EXPECT_EQ(test, t[i].status, -EPIPE);
	}
	daedalus_test_job_init(&t[0], 0);
	KUNIT_EXPECT_EQ(test, daedalus_job_queue(&t[0].job), -ENODEV);
	KUNIT_EXPECT_EQ(test, atomic_read(&t[0].ends), 0);
}

static struct kunit_case daedalus_upcall_cases[] = {
	KUNIT_CASE(daedalus_test_done_vs_watchdog),
	KUNIT_CASE(daedalus_test_cancel_vs_watchdog),
	KUNIT_CASE(daedalus_test_detach),
	{}
};

static struct kunit_suite daedalus_upcall_suite = {
	.name = "daedalus-upcall",
	.init = daedalus_test_init,
	.exit = daedalus_test_exit,
	.test_cases = daedalus_upcall_cases,
};

kunit_test_suite(daedalus_upcall_suite);
