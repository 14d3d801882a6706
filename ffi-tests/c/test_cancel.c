/* Progress callbacks, cancellation from a second thread, deadlines, fail-fast, per-batch
 * concurrency, and one executor shared by two threads. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>

#include "check.h"
#include "timing.h"

static test_server server;

typedef struct {
    pthread_t caller;
    int calls;
    int wrong_thread;
    uint64_t last_completed;
    uint64_t last_total;
    double last_percent;
    int went_backwards;
    size_t seen_struct_size;
    httpbatch_cancel_token *cancel_at_half; /* cancel from inside the callback, if set */
} progress_log;

static void on_progress(const httpbatch_progress *p, void *user) {
    progress_log *log = user;
    log->calls++;
    if (!pthread_equal(pthread_self(), log->caller))
        log->wrong_thread++;
    if (p->completed < log->last_completed)
        log->went_backwards++;
    log->last_completed = p->completed;
    log->last_total = p->total;
    log->last_percent = p->percent;
    log->seen_struct_size = p->struct_size;
    if (log->cancel_at_half != NULL && p->completed * 2 >= p->total)
        httpbatch_cancel_token_cancel(log->cancel_at_half);
}

static void progress_runs_on_the_calling_thread(void) {
    httpbatch_executor *exec = make_executor(4);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    for (int i = 0; i < 40; i++)
        add_get(batch, &server, "/delay/5");
    progress_log log;
    memset(&log, 0, sizeof log);
    log.caller = pthread_self();
    CHECK_OK(httpbatch_batch_set_progress(batch, on_progress, &log, 0));
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    int calls_at_return = log.calls;
    CHECK(log.calls >= 2);
    CHECK(log.wrong_thread == 0);
    CHECK(log.went_backwards == 0);
    CHECK(log.last_completed == 40 && log.last_total == 40 && log.last_percent == 100.0);
    CHECK(log.seen_struct_size == sizeof(httpbatch_progress));
    /* Never after the call returned. */
    sleep_ms(50);
    CHECK(log.calls == calls_at_return);
    /* Clearing the callback. */
    CHECK_OK(httpbatch_batch_set_progress(batch, NULL, NULL, 0));
    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

typedef struct {
    httpbatch_cancel_token *token;
    long after_ms;
} canceller_args;

static void *canceller(void *arg) {
    canceller_args *a = arg;
    sleep_ms(a->after_ms);
    httpbatch_cancel_token_cancel(a->token);
    return NULL;
}

static void cancel_from_a_second_thread(void) {
    httpbatch_executor *exec = make_executor(4);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    for (int i = 0; i < 10000; i++)
        add_get(batch, &server, i < 8 ? "/delay/10000" : "/ok");
    httpbatch_cancel_token *token = NULL;
    CHECK_OK(httpbatch_cancel_token_new(&token));
    CHECK_OK(httpbatch_batch_set_cancel_token(batch, token));
    progress_log log;
    memset(&log, 0, sizeof log);
    log.caller = pthread_self();
    CHECK_OK(httpbatch_batch_set_progress(batch, on_progress, &log, 10));

    canceller_args args = {token, 150};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, canceller, &args) == 0);
    double start = now_ms();
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    double took = now_ms() - start;
    pthread_join(t, NULL);
    CHECK(took < 2000.0);
    bool cancelled = false;
    CHECK_OK(httpbatch_cancel_token_is_cancelled(token, &cancelled));
    CHECK(cancelled);

    size_t n = 0;
    CHECK_OK(httpbatch_batch_result_len(res, &n));
    CHECK(n == 10000);
    size_t n_cancelled = 0, n_response = 0, other = 0;
    for (size_t i = 0; i < n; i++) {
        httpbatch_item it = get_item(res, i);
        if (it.outcome == HTTPBATCH_OUTCOME_CANCELLED) {
            n_cancelled++;
            CHECK(it.code == HTTPBATCH_RESULT_CANCELLED);
            CHECK(strcmp(it.error_message, "cancelled") == 0);
        } else if (it.outcome == HTTPBATCH_OUTCOME_RESPONSE) {
            n_response++;
        } else {
            other++;
        }
    }
    /* The four slow requests in flight were interrupted, most of the rest never started. */
    CHECK(n_cancelled >= 4);
    CHECK(other == 0);
    CHECK(n_cancelled + n_response == 10000);
    CHECK(log.wrong_thread == 0);
    CHECK(log.last_completed == 10000);

    /* The batch keeps its own reference to the token: freeing ours first is fine. A batch run
     * under an already cancelled token ends at once, every item cancelled. */
    httpbatch_cancel_token_free(token);
    add_get(batch, &server, "/ok");
    httpbatch_batch_result *again = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &again));
    CHECK(get_item(again, 0).outcome == HTTPBATCH_OUTCOME_CANCELLED);
    httpbatch_batch_result_free(again);
    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

static void cancel_from_inside_the_callback(void) {
    httpbatch_executor *exec = make_executor(2);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    for (int i = 0; i < 200; i++)
        add_get(batch, &server, "/delay/2");
    httpbatch_cancel_token *token = NULL;
    CHECK_OK(httpbatch_cancel_token_new(&token));
    CHECK_OK(httpbatch_batch_set_cancel_token(batch, token));
    progress_log log;
    memset(&log, 0, sizeof log);
    log.caller = pthread_self();
    log.cancel_at_half = token;
    CHECK_OK(httpbatch_batch_set_progress(batch, on_progress, &log, 0));
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    httpbatch_batch_summary s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    CHECK_OK(httpbatch_batch_result_summary(res, &s));
    CHECK(s.total == 200);
    CHECK(s.cancelled > 0 && s.succeeded >= 100 && s.succeeded < 200);
    CHECK(s.succeeded + s.cancelled == 200);
    httpbatch_batch_result_free(res);
    httpbatch_cancel_token_free(token);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

static void deadline_ends_the_batch(void) {
    httpbatch_executor *exec = make_executor(2);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    for (int i = 0; i < 20; i++)
        add_get(batch, &server, "/delay/3000");
    CHECK_OK(httpbatch_batch_set_deadline_ms(batch, 200));
    double start = now_ms();
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    CHECK(now_ms() - start < 2000.0);
    httpbatch_batch_summary s;
    memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    CHECK_OK(httpbatch_batch_result_summary(res, &s));
    CHECK(s.errors == 2 && s.not_run == 18);
    CHECK(get_item(res, 0).code == HTTPBATCH_RESULT_DEADLINE_EXCEEDED);
    httpbatch_item last = get_item(res, 19);
    CHECK(last.outcome == HTTPBATCH_OUTCOME_NOT_RUN && last.code == HTTPBATCH_RESULT_NOT_RUN);
    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

static void fail_fast_and_concurrency(void) {
    httpbatch_executor *exec = make_executor(8);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    add_get(batch, &server, "/status/500");
    for (int i = 0; i < 50; i++)
        add_get(batch, &server, "/delay/5");
    CHECK_OK(httpbatch_batch_set_fail_fast(batch, true));
    CHECK_OK(httpbatch_batch_set_fail_fast_status(batch, 500));
    CHECK_OK(httpbatch_batch_set_concurrency(batch, 1));
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    CHECK(get_item(res, 0).status == 500);
    CHECK(get_item(res, 50).outcome == HTTPBATCH_OUTCOME_NOT_RUN);
    httpbatch_batch_result_free(res);

    /* Concurrency 3 on 8 workers: the server never sees more than 3 at once. */
    test_server own;
    test_server_start(&own);
    CHECK_OK(httpbatch_batch_set_fail_fast(batch, false));
    CHECK_OK(httpbatch_batch_set_fail_fast_status(batch, 0));
    CHECK_OK(httpbatch_batch_set_concurrency(batch, 3));
    for (int i = 0; i < 30; i++)
        add_get(batch, &own, "/delay/10");
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    CHECK(test_server_get_stats(&own).max_in_flight == 3);
    httpbatch_batch_result_free(res);
    CHECK(test_server_stop(&own) == 0);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

typedef struct {
    httpbatch_executor *exec;
    int ok;
} shared_run;

typedef struct {
    httpbatch_control *control;
    _Atomic uint64_t completed;
    _Atomic int paused_seen;
    uint64_t during_pause; /* items that settled in the quiet window of a pause */
} pauser_state;

static void on_progress_pause(const httpbatch_progress *p, void *user) {
    pauser_state *st = user;
    st->completed = p->completed;
    if (p->paused)
        st->paused_seen = 1;
}

static void *pauser(void *arg) {
    pauser_state *st = arg;
    while (st->completed < 10)
        sleep_ms(1);
    CHECK_OK(httpbatch_control_pause(st->control));
    bool paused = false;
    CHECK_OK(httpbatch_control_is_paused(st->control, &paused));
    CHECK(paused);
    /* Requests in flight at the pause (10 ms each) finish within this first window. */
    sleep_ms(300);
    uint64_t before = st->completed;
    sleep_ms(300);
    st->during_pause = st->completed - before;
    CHECK_OK(httpbatch_control_resume(st->control));
    return NULL;
}

static void pause_and_resume_from_a_second_thread(void) {
    httpbatch_executor *exec = make_executor(4);
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    for (int i = 0; i < 80; i++)
        add_get(batch, &server, "/delay/10");
    pauser_state st = {0};
    CHECK_OK(httpbatch_control_new(&st.control));
    CHECK_OK(httpbatch_batch_set_control(batch, st.control));
    CHECK_OK(httpbatch_batch_set_progress(batch, on_progress_pause, &st, 1));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, pauser, &st) == 0);
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    pthread_join(t, NULL);
    CHECK(st.during_pause == 0);
    CHECK(st.paused_seen);
    httpbatch_batch_summary sum = {.struct_size = sizeof sum};
    CHECK_OK(httpbatch_batch_result_summary(res, &sum));
    CHECK(sum.succeeded == 80);
    httpbatch_batch_result_free(res);
    /* Cancel while paused settles every item cancelled, and nothing is sent. */
    CHECK_OK(httpbatch_control_pause(st.control));
    for (int i = 0; i < 20; i++)
        add_get(batch, &server, "/ok");
    canceller_args a = {NULL, 50};
    httpbatch_cancel_token *token = NULL;
    CHECK_OK(httpbatch_cancel_token_new(&token));
    a.token = token;
    CHECK_OK(httpbatch_batch_set_cancel_token(batch, token));
    CHECK(pthread_create(&t, NULL, canceller, &a) == 0);
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    pthread_join(t, NULL);
    CHECK_OK(httpbatch_batch_result_summary(res, &sum));
    CHECK(sum.cancelled == 20);
    CHECK_RC(httpbatch_control_pause(NULL), HTTPBATCH_RESULT_NULL_ARGUMENT);
    httpbatch_batch_result_free(res);
    httpbatch_cancel_token_free(token);
    httpbatch_control_free(st.control);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

static void *run_on_shared_executor(void *arg) {
    shared_run *r = arg;
    httpbatch_batch *batch = NULL;
    if (httpbatch_batch_new(&batch) != HTTPBATCH_RESULT_OK)
        return NULL;
    for (int i = 0; i < 500; i++)
        add_get(batch, &server, "/bytes/16");
    httpbatch_batch_result *res = NULL;
    if (httpbatch_executor_execute(r->exec, batch, &res) == HTTPBATCH_RESULT_OK) {
        httpbatch_batch_summary s;
        memset(&s, 0, sizeof s);
        s.struct_size = sizeof s;
        if (httpbatch_batch_result_summary(res, &s) == HTTPBATCH_RESULT_OK && s.succeeded == 500)
            r->ok = 1;
    }
    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    return NULL;
}

static void one_executor_two_threads(void) {
    httpbatch_executor *exec = make_executor(4);
    shared_run runs[2] = {{exec, 0}, {exec, 0}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&t[i], NULL, run_on_shared_executor, &runs[i]) == 0);
    /* Stats may be read while batches run. */
    httpbatch_executor_stats st;
    memset(&st, 0, sizeof st);
    st.struct_size = sizeof st;
    CHECK_OK(httpbatch_executor_stats_get(exec, &st));
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    CHECK(runs[0].ok && runs[1].ok);
    CHECK_OK(httpbatch_executor_stats_get(exec, &st));
    CHECK(st.batches == 2 && st.completed == 1000);
    /* After shutdown every item of a new run ends with STOPPED. */
    CHECK_OK(httpbatch_executor_shutdown(exec));
    CHECK_OK(httpbatch_executor_shutdown(exec));
    httpbatch_batch *batch = NULL;
    CHECK_OK(httpbatch_batch_new(&batch));
    add_get(batch, &server, "/ok");
    httpbatch_batch_result *res = NULL;
    CHECK_OK(httpbatch_executor_execute(exec, batch, &res));
    httpbatch_item it = get_item(res, 0);
    CHECK(it.outcome == HTTPBATCH_OUTCOME_ERROR && it.code == HTTPBATCH_RESULT_STOPPED);
    httpbatch_batch_result_free(res);
    httpbatch_batch_free(batch);
    httpbatch_executor_free(exec);
}

int main(void) {
    test_server_start(&server);
    RUN(progress_runs_on_the_calling_thread);
    RUN(cancel_from_a_second_thread);
    RUN(cancel_from_inside_the_callback);
    RUN(deadline_ends_the_batch);
    RUN(fail_fast_and_concurrency);
    RUN(pause_and_resume_from_a_second_thread);
    RUN(one_executor_two_threads);
    CHECK(test_server_stop(&server) == 0);
    return check_exit("test_cancel");
}
