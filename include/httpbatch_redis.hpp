// httpbatch_redis.hpp: the C++ wrapper of the Redis feature — the rate limiter shared through
// Redis (RedisLimiter, attached to an executor with with_redis_limiter), the work list
// (RedisList) and its worker loop (RedisWorker). Needs the library built with the `redis`
// feature (HTTPBATCH_FEATURES=redis scripts/install-c.sh PREFIX), whose .pc files define
// HTTPBATCH_REDIS.
#ifndef HTTPBATCH_REDIS_HPP
#define HTTPBATCH_REDIS_HPP

#include <optional>
#include <utility>
#include <vector>

#include "httpbatch_stack.hpp"

#ifndef HTTPBATCH_REDIS
#error "httpbatch_redis.hpp needs HTTPBATCH_REDIS (a library built with the redis feature; its pkg-config Cflags define it)"
#endif

namespace httpbatch {

// What the shared limiter does while Redis is unreachable.
struct RedisFailOpen {
    // 0: wait and retry (fail closed, the default); (0, 1]: admit through a local limiter at
    // this share of the rate meanwhile (fail open).
    double share = 0.0;
};

// A rate limiter whose buckets live in Redis: every process on any machine that names the same
// URL and key shares one limit. Thread-safe; executors built with it keep their own reference.
class RedisLimiter {
public:
    template <class Rep, class Period>
    RedisLimiter(std::string_view url, std::string_view key, double count,
                 std::chrono::duration<Rep, Period> interval, uint32_t burst, uint32_t lease = 1,
                 RedisFailOpen on_unreachable = {}) {
        httpbatch_redis_limiter *l = nullptr;
        detail::check(httpbatch_redis_limiter_new(url.data(), url.size(), key.data(), key.size(),
                                                  count, detail::to_ms(interval), burst, lease,
                                                  on_unreachable.share, &l));
        h_.reset(l);
    }
    // Waits for one slot (a deadline `timeout` away, none if zero); returns the time waited.
    template <class Rep = int64_t, class Period = std::milli>
    std::chrono::microseconds acquire(std::chrono::duration<Rep, Period> timeout = {}) const {
        uint64_t waited = 0;
        check(httpbatch_redis_limiter_acquire(h_.get(), detail::to_ms(timeout), nullptr, &waited));
        return detail::us(waited);
    }
    template <class Rep, class Period>
    void set_rate(double count, std::chrono::duration<Rep, Period> interval) const {
        check(httpbatch_redis_limiter_set_rate(h_.get(), count, detail::to_ms(interval)));
    }
    httpbatch_redis_limiter_stats stats() const {
        auto s = detail::sized<httpbatch_redis_limiter_stats>();
        check(httpbatch_redis_limiter_stats_get(h_.get(), &s));
        return s;
    }
    const httpbatch_redis_limiter *get() const noexcept { return h_.get(); }

private:
    void check(httpbatch_result rc) const {
        detail::check(rc, httpbatch_redis_limiter_last_error,
                      static_cast<const httpbatch_redis_limiter *>(h_.get()));
    }
    detail::Handle<httpbatch_redis_limiter, httpbatch_redis_limiter_free> h_;
};

// Puts the shared limiter in the executor's stack, where a local limiter goes.
inline ExecutorBuilder &with_redis_limiter(ExecutorBuilder &b, const RedisLimiter &l) {
    detail::check(httpbatch_executor_builder_set_redis_limiter(b.get(), l.get()),
                  httpbatch_executor_builder_last_error,
                  static_cast<const httpbatch_executor_builder *>(b.get()));
    return b;
}

// A work list in Redis: submit requests (a URL, or a JSON spec as `httpbatch submit` reads it,
// each with an id), read where it stands and its outcomes. Thread-safe.
class RedisList {
public:
    RedisList(std::string_view url, std::string_view name) {
        httpbatch_redis_list *l = nullptr;
        detail::check(httpbatch_redis_list_new(url.data(), url.size(), name.data(), name.size(), &l));
        h_.reset(l);
    }
    // Appends (id, payload) pairs in order; returns how many.
    uint64_t submit(const std::vector<std::pair<std::string, std::string>> &items) const {
        std::vector<const char *> ids, payloads;
        std::vector<size_t> id_lens, payload_lens;
        for (const auto &[id, payload] : items) {
            ids.push_back(id.data());
            id_lens.push_back(id.size());
            payloads.push_back(payload.data());
            payload_lens.push_back(payload.size());
        }
        uint64_t n = 0;
        check(httpbatch_redis_list_submit(h_.get(), ids.data(), id_lens.data(), payloads.data(),
                                          payload_lens.data(), items.size(), &n));
        return n;
    }
    httpbatch_redis_list_status status() const {
        auto s = detail::sized<httpbatch_redis_list_status>();
        check(httpbatch_redis_list_status_get(h_.get(), &s));
        return s;
    }
    // The outcome recorded for `id` (one JSON object), if any.
    std::optional<std::string> outcome(std::string_view id) const {
        size_t len = 0;
        httpbatch_result rc = httpbatch_redis_list_outcome(h_.get(), id.data(), id.size(), nullptr, 0, &len);
        if (rc == HTTPBATCH_RESULT_NOT_FOUND) return std::nullopt;
        if (rc != HTTPBATCH_RESULT_BUFFER_TOO_SMALL) check(rc);
        // Another worker cannot change a recorded outcome: the length stays right.
        std::string text(len + 1, '\0');
        check(httpbatch_redis_list_outcome(h_.get(), id.data(), id.size(), text.data(), text.size(), &len));
        text.resize(len);
        return text;
    }

private:
    void check(httpbatch_result rc) const {
        detail::check(rc, httpbatch_redis_list_last_error, static_cast<const httpbatch_redis_list *>(h_.get()));
    }
    detail::Handle<httpbatch_redis_list, httpbatch_redis_list_free> h_;
};

// A worker of a work list: run() reads its requests, runs them through an executor and records
// one outcome per id until stop() or cancel() (from another thread). Configure it before run().
class RedisWorker {
public:
    RedisWorker(std::string_view url, std::string_view list, std::string_view name) {
        httpbatch_redis_worker *w = nullptr;
        detail::check(httpbatch_redis_worker_new(url.data(), url.size(), list.data(), list.size(),
                                                 name.data(), name.size(), &w));
        h_.reset(w);
    }
    template <class Rep, class Period>
    RedisWorker &visibility_timeout(std::chrono::duration<Rep, Period> d) {
        check(httpbatch_redis_worker_set_visibility_timeout_ms(h_.get(), detail::to_ms(d)));
        return *this;
    }
    RedisWorker &max_deliveries(uint64_t n) {
        check(httpbatch_redis_worker_set_max_deliveries(h_.get(), n));
        return *this;
    }
    RedisWorker &read_batch(size_t n) {
        check(httpbatch_redis_worker_set_read_batch(h_.get(), n));
        return *this;
    }
    RedisWorker &exit_when_complete(bool yes = true) {
        check(httpbatch_redis_worker_set_exit_when_complete(h_.get(), yes));
        return *this;
    }
    // Blocks until stopped (or, with exit_when_complete, until the list is done).
    httpbatch_redis_worker_summary run(const Executor &executor) const {
        auto s = detail::sized<httpbatch_redis_worker_summary>();
        check(httpbatch_redis_worker_run(h_.get(), executor.get(), &s));
        return s;
    }
    // Graceful: what was read finishes and is recorded. Thread-safe.
    void stop() const { check(httpbatch_redis_worker_stop(h_.get())); }
    // At once: requests in flight are left pending for another worker. Thread-safe.
    void cancel() const { check(httpbatch_redis_worker_cancel(h_.get())); }

private:
    void check(httpbatch_result rc) const {
        detail::check(rc, httpbatch_redis_worker_last_error, static_cast<const httpbatch_redis_worker *>(h_.get()));
    }
    detail::Handle<httpbatch_redis_worker, httpbatch_redis_worker_free> h_;
};

}  // namespace httpbatch

#endif
