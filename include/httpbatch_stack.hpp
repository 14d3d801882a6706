// httpbatch_stack.hpp: the layers of the C++ wrapper (Limiter, RetryPolicy, NetOptions, Pool)
// and the Executor that runs batches over them. Part of httpbatch.hpp, which includes it: include
// httpbatch.hpp. Dedup, coalescing, adaptive limits and pagination: httpbatch_features.hpp.
#ifndef HTTPBATCH_STACK_HPP
#define HTTPBATCH_STACK_HPP

#include "httpbatch.hpp"

namespace httpbatch {

// A rate limiter: count requests per interval, bursts of up to burst. Thread-safe.
class Limiter {
public:
    Limiter(double count, uint64_t interval_ms, uint32_t burst) {
        httpbatch_limiter *l = nullptr;
        detail::check(httpbatch_limiter_new(count, interval_ms, burst, &l));
        h_.reset(l);
    }
    // `count` requests per `interval` (e.g. 100 per std::chrono::seconds(1)).
    template <class Rep, class Period>
    Limiter(double count, std::chrono::duration<Rep, Period> interval, uint32_t burst)
        : Limiter(count, detail::to_ms(interval), burst) {}
    void set_rate(double count, uint64_t interval_ms) const {
        check(httpbatch_limiter_set_rate(h_.get(), count, interval_ms));
    }
    template <class Rep, class Period>
    void set_rate(double count, std::chrono::duration<Rep, Period> interval) const {
        set_rate(count, detail::to_ms(interval));
    }
    void set_burst(uint32_t burst) const { check(httpbatch_limiter_set_burst(h_.get(), burst)); }
    void set_per_host(double count, uint64_t interval_ms, uint32_t burst) const {
        check(httpbatch_limiter_set_per_host(h_.get(), count, interval_ms, burst));
    }
    void stop() const { check(httpbatch_limiter_stop(h_.get())); }
    httpbatch_limiter_stats stats() const {
        auto s = detail::sized<httpbatch_limiter_stats>();
        check(httpbatch_limiter_stats_get(h_.get(), &s));
        return s;
    }
    const httpbatch_limiter *get() const noexcept { return h_.get(); }

private:
    void check(httpbatch_result rc) const {
        detail::check(rc, httpbatch_limiter_last_error, static_cast<const httpbatch_limiter *>(h_.get()));
    }
    detail::Handle<httpbatch_limiter, httpbatch_limiter_free> h_;
};

// A retry policy (copied where it is used).
class RetryPolicy {
public:
    RetryPolicy() {
        httpbatch_retry_policy *p = nullptr;
        detail::check(httpbatch_retry_policy_new(&p));
        h_.reset(p);
    }
    RetryPolicy &max_attempts(uint32_t n) { return check(httpbatch_retry_policy_set_max_attempts(h_.get(), n)); }
    RetryPolicy &backoff(uint64_t base_ms, uint64_t max_ms, double multiplier = 2.0) {
        return check(httpbatch_retry_policy_set_backoff(h_.get(), base_ms, max_ms, multiplier));
    }
    RetryPolicy &jitter(httpbatch_jitter j) { return check(httpbatch_retry_policy_set_jitter(h_.get(), j)); }
    RetryPolicy &retry_after(bool respect, uint64_t cap_ms) {
        return check(httpbatch_retry_policy_set_retry_after(h_.get(), respect, cap_ms));
    }
    RetryPolicy &retry_non_idempotent(bool yes) {
        return check(httpbatch_retry_policy_set_retry_non_idempotent(h_.get(), yes));
    }
    RetryPolicy &budget(double ratio, double min_per_sec) {
        return check(httpbatch_retry_policy_set_budget(h_.get(), ratio, min_per_sec));
    }
    const httpbatch_retry_policy *get() const noexcept { return h_.get(); }

private:
    RetryPolicy &check(httpbatch_result rc) {
        detail::check(rc, httpbatch_retry_policy_last_error,
                      static_cast<const httpbatch_retry_policy *>(h_.get()));
        return *this;
    }
    detail::Handle<httpbatch_retry_policy, httpbatch_retry_policy_free> h_;
};

// TLS and proxy options, copied into an ExecutorBuilder or a PoolBuilder by net_options().
// Each setter checks its result at once (files read, PEM and proxy URLs parsed) and throws
// Error(HTTPBATCH_RESULT_INVALID_CONFIG) for an unusable one, leaving the options unchanged.
class NetOptions {
public:
    NetOptions() {
        httpbatch_net_options *o = nullptr;
        detail::check(httpbatch_net_options_new(&o));
        h_.reset(o);
    }
    // Trusts these PEM CA certificates besides the built-in roots.
    NetOptions &add_root_certificates_pem(std::string_view pem) {
        return check(httpbatch_net_options_add_root_certificates_pem(
            h_.get(), reinterpret_cast<const uint8_t *>(pem.data()), pem.size()));
    }
    NetOptions &add_root_certificates_file(std::string_view path) {
        return check(httpbatch_net_options_add_root_certificates_file(h_.get(), path.data(), path.size()));
    }
    NetOptions &builtin_roots(bool yes) { return check(httpbatch_net_options_set_builtin_roots(h_.get(), yes)); }
    NetOptions &platform_verifier(bool yes) {
        return check(httpbatch_net_options_set_platform_verifier(h_.get(), yes));
    }
    // Mutual TLS: the PEM certificate chain and its PEM private key.
    NetOptions &client_certificate_pem(std::string_view cert_chain, std::string_view key) {
        return check(httpbatch_net_options_set_client_certificate_pem(
            h_.get(), reinterpret_cast<const uint8_t *>(cert_chain.data()), cert_chain.size(),
            reinterpret_cast<const uint8_t *>(key.data()), key.size()));
    }
    NetOptions &client_certificate_files(std::string_view cert_chain_path, std::string_view key_path) {
        return check(httpbatch_net_options_set_client_certificate_files(
            h_.get(), cert_chain_path.data(), cert_chain_path.size(), key_path.data(), key_path.size()));
    }
    // HTTPBATCH_TLS_1_2 or HTTPBATCH_TLS_1_3.
    NetOptions &min_tls_version(uint32_t version) {
        return check(httpbatch_net_options_set_min_tls_version(h_.get(), version));
    }
    // DANGER: turns certificate verification off (tests only; curl's -k).
    NetOptions &danger_accept_invalid_certs(bool yes) {
        return check(httpbatch_net_options_set_danger_accept_invalid_certs(h_.get(), yes));
    }
    // http://[user:pass@]host[:port], socks5://, socks5h://; "" for no proxy at all.
    NetOptions &proxy(std::string_view url) {
        return check(httpbatch_net_options_set_proxy(h_.get(), url.data(), url.size()));
    }
    NetOptions &no_proxy(std::string_view list) {
        return check(httpbatch_net_options_set_no_proxy(h_.get(), list.data(), list.size()));
    }
    NetOptions &proxy_from_env(bool yes) {
        return check(httpbatch_net_options_set_proxy_from_env(h_.get(), yes));
    }
    // Whether gzip, deflate and br bodies are decoded (default true; the body limit then applies
    // to the decoded size). False: bodies as sent, Content-Encoding kept (curl without
    // --compressed).
    NetOptions &decompress(bool yes) {
        return check(httpbatch_net_options_set_decompress(h_.get(), yes));
    }
    // The Accept-Encoding sent by requests that set none; "" sends none. Defaults to
    // "gzip, deflate, br" when decoding, else none.
    NetOptions &accept_encoding(std::string_view value) {
        return check(httpbatch_net_options_set_accept_encoding(h_.get(), value.data(), value.size()));
    }
    const httpbatch_net_options *get() const noexcept { return h_.get(); }

private:
    NetOptions &check(httpbatch_result rc) {
        detail::check(rc, httpbatch_net_options_last_error,
                      static_cast<const httpbatch_net_options *>(h_.get()));
        return *this;
    }
    detail::Handle<httpbatch_net_options, httpbatch_net_options_free> h_;
};

class Pool;

// Configures a Pool; build() consumes it.
class PoolBuilder {
public:
    PoolBuilder() {
        httpbatch_pool_builder *b = nullptr;
        detail::check(httpbatch_pool_builder_new(&b));
        h_.reset(b);
    }
    PoolBuilder &max_in_flight_per_host(size_t n) {
        return check(httpbatch_pool_builder_set_max_in_flight_per_host(h_.get(), n));
    }
    PoolBuilder &timeout_ms(uint64_t ms) { return check(httpbatch_pool_builder_set_timeout_ms(h_.get(), ms)); }
    template <class Rep, class Period>
    PoolBuilder &timeout(std::chrono::duration<Rep, Period> d) {
        return timeout_ms(detail::to_ms(d));
    }
    PoolBuilder &retry_policy(const RetryPolicy &p) {
        return check(httpbatch_pool_builder_set_retry_policy(h_.get(), p.get()));
    }
    PoolBuilder &health_check(uint64_t probe_timeout_ms, uint32_t unhealthy, uint32_t healthy) {
        return check(httpbatch_pool_builder_set_health_check(h_.get(), probe_timeout_ms, unhealthy, healthy));
    }
    PoolBuilder &warmup(std::string_view path, uint64_t timeout_ms) {
        return check(httpbatch_pool_builder_set_warmup(h_.get(), path.data(), path.size(), timeout_ms));
    }
    // Copies the TLS and proxy options.
    PoolBuilder &net_options(const NetOptions &o) {
        return check(httpbatch_pool_builder_set_net_options(h_.get(), o.get()));
    }
    using HealthChange = std::function<void(std::string_view origin, httpbatch_health_state old_state,
                                            httpbatch_health_state new_state)>;
    // `f` runs on the pool's health-check thread (not the caller's) on every host state
    // change: keep it short, thread-safe and non-throwing (an exception is swallowed). The pool,
    // and every executor built with it, keep it alive.
    PoolBuilder &on_health_change(HealthChange f) {
        if (!f) {
            health_.reset();
            return check(httpbatch_pool_builder_set_on_health_change(h_.get(), nullptr, nullptr));
        }
        health_ = std::make_shared<HealthChange>(std::move(f));
        return check(httpbatch_pool_builder_set_on_health_change(h_.get(), &PoolBuilder::health_trampoline,
                                                               health_.get()));
    }
    inline Pool build();

private:
    PoolBuilder &check(httpbatch_result rc) {
        detail::check(rc, httpbatch_pool_builder_last_error,
                      static_cast<const httpbatch_pool_builder *>(h_.get()));
        return *this;
    }
    static void health_trampoline(const char *origin, size_t len, httpbatch_health_state old_state,
                                  httpbatch_health_state new_state, void *user) noexcept {
        try {
            (*static_cast<HealthChange *>(user))(std::string_view(origin, len), old_state, new_state);
        } catch (...) {
        }
    }
    std::shared_ptr<HealthChange> health_;
    detail::Handle<httpbatch_pool_builder, httpbatch_pool_builder_free> h_;
};

// A connection pool: per-host in-flight caps, retries, warmup, health checks. Thread-safe.
class Pool {
public:
    explicit Pool(httpbatch_pool *p, std::shared_ptr<void> keep = nullptr) : keep_(std::move(keep)), h_(p) {}
    httpbatch_pool_stats stats() const {
        auto s = detail::sized<httpbatch_pool_stats>();
        check(httpbatch_pool_stats_get(h_.get(), &s));
        return s;
    }
    // Hosts are newline-separated URLs or origins.
    std::vector<httpbatch_host_warmup> warmup(std::string_view hosts, size_t connections,
                                              std::vector<std::string> *origins = nullptr) const {
        httpbatch_warmup_report *r = nullptr;
        check(httpbatch_pool_warmup(h_.get(), hosts.data(), hosts.size(), connections, &r));
        detail::Handle<httpbatch_warmup_report, httpbatch_warmup_report_free> report(r);
        size_t n = 0;
        detail::check(httpbatch_warmup_report_len(r, &n));
        std::vector<httpbatch_host_warmup> out;
        for (size_t i = 0; i < n; i++) {
            auto h = detail::sized<httpbatch_host_warmup>();
            detail::check(httpbatch_warmup_report_host(r, i, &h));
            if (origins) origins->emplace_back(h.origin, h.origin_len);
            h.origin = nullptr;  // owned by the report, freed on return
            h.errors = nullptr;
            out.push_back(h);
        }
        return out;
    }
    void enable_health_check(std::string_view hosts, uint64_t interval_ms, std::string_view path) const {
        check(httpbatch_pool_enable_health_check(h_.get(), hosts.data(), hosts.size(), interval_ms,
                                                 path.data(), path.size()));
    }
    template <class Rep, class Period>
    void enable_health_check(std::string_view hosts, std::chrono::duration<Rep, Period> interval,
                             std::string_view path) const {
        enable_health_check(hosts, detail::to_ms(interval), path);
    }
    // What must outlive the C pool (its health callback); executors built with it keep it too.
    const std::shared_ptr<void> &keep() const noexcept { return keep_; }
    void disable_health_check() const { check(httpbatch_pool_disable_health_check(h_.get())); }
    std::optional<httpbatch_host_health> host_health(std::string_view host) const {
        auto h = detail::sized<httpbatch_host_health>();
        httpbatch_result rc = httpbatch_pool_host_health(h_.get(), host.data(), host.size(), &h);
        if (rc == HTTPBATCH_RESULT_NOT_FOUND) return std::nullopt;
        check(rc);
        return h;
    }
    const httpbatch_pool *get() const noexcept { return h_.get(); }

private:
    void check(httpbatch_result rc) const {
        detail::check(rc, httpbatch_pool_last_error, static_cast<const httpbatch_pool *>(h_.get()));
    }
    std::shared_ptr<void> keep_;  // destroyed after h_
    detail::Handle<httpbatch_pool, httpbatch_pool_free> h_;
};

inline Pool PoolBuilder::build() {
    httpbatch_pool *p = nullptr;
    detail::check(httpbatch_pool_builder_build(h_.release(), &p));  // consumes the builder
    return Pool(p, std::move(health_));
}

// Executor-wide statistics since creation or reset_stats().
struct ExecutorStats {
    uint64_t batches = 0, requests = 0, completed = 0, in_flight = 0;
    std::array<uint64_t, 5> status_classes{};            // 1xx .. 5xx
    std::array<uint64_t, HTTPBATCH_ERROR_CODES> errors{};  // by code: errors[HTTPBATCH_RESULT_TIMEOUT]
    uint64_t errors_total = 0, cancelled = 0, not_run = 0;
    Latency latency;
    double throughput = 0;
    std::chrono::microseconds elapsed{};
    static ExecutorStats from(const httpbatch_executor_stats &s) {
        ExecutorStats out;
        out.batches = s.batches;
        out.requests = s.requests;
        out.completed = s.completed;
        out.in_flight = s.in_flight;
        for (size_t i = 0; i < out.status_classes.size(); i++) out.status_classes[i] = s.status_classes[i];
        for (size_t i = 0; i < out.errors.size(); i++) out.errors[i] = s.errors[i];
        out.errors_total = s.errors_total;
        out.cancelled = s.cancelled;
        out.not_run = s.not_run;
        out.latency = Latency::from(s.latency);
        out.throughput = s.throughput;
        out.elapsed = detail::us(s.elapsed_us);
        return out;
    }
};

// Connection figures counted at the socket.
struct ConnectionStats {
    uint64_t opened = 0, closed = 0, live = 0, requests = 0, reused = 0;
};

// What Executor::try_execute did: ran the request (result holds its one item), or found no
// token and says how long until one should be available.
struct TryResult {
    std::optional<BatchResult> result;
    std::chrono::microseconds wait{};
    bool ran() const noexcept { return result.has_value(); }
};

class Executor;
struct DedupStats;
struct CoalesceStats;
struct AdaptiveHostStats;

// The built-in codecs of request coalescing (ExecutorBuilder::coalesce).
enum class Codec : uint32_t {
    None = HTTPBATCH_COALESCE_NONE,
    // JSON-RPC 2.0 batches: each request body is one call object; answers matched by id.
    JsonRpc = HTTPBATCH_COALESCE_JSONRPC,
    // JSON arrays: the bodies collected into one array, results split from the answer's array.
    JsonArray = HTTPBATCH_COALESCE_JSON_ARRAY,
};

// Configures an Executor; build() consumes it.
class ExecutorBuilder {
public:
    ExecutorBuilder() {
        httpbatch_executor_builder *b = nullptr;
        detail::check(httpbatch_executor_builder_new(&b));
        h_.reset(b);
    }
    ExecutorBuilder &workers(size_t n) { return check(httpbatch_executor_builder_set_workers(h_.get(), n)); }
    ExecutorBuilder &timeout_ms(uint64_t ms) {
        return check(httpbatch_executor_builder_set_timeout_ms(h_.get(), ms));
    }
    ExecutorBuilder &connect_timeout_ms(uint64_t ms) {
        return check(httpbatch_executor_builder_set_connect_timeout_ms(h_.get(), ms));
    }
    template <class Rep, class Period>
    ExecutorBuilder &timeout(std::chrono::duration<Rep, Period> d) {
        return timeout_ms(detail::to_ms(d));
    }
    template <class Rep, class Period>
    ExecutorBuilder &connect_timeout(std::chrono::duration<Rep, Period> d) {
        return connect_timeout_ms(detail::to_ms(d));
    }
    ExecutorBuilder &max_body_size(uint64_t bytes) {
        return check(httpbatch_executor_builder_set_max_body_size(h_.get(), bytes));
    }
    ExecutorBuilder &max_response_head(uint64_t bytes) {
        return check(httpbatch_executor_builder_set_max_response_head(h_.get(), bytes));
    }
    ExecutorBuilder &max_idle_per_origin(size_t n) {
        return check(httpbatch_executor_builder_set_max_idle_per_origin(h_.get(), n));
    }
    ExecutorBuilder &max_redirects(uint32_t n) {
        return check(httpbatch_executor_builder_set_max_redirects(h_.get(), n));
    }
    ExecutorBuilder &user_agent(std::string_view ua) {
        return check(httpbatch_executor_builder_set_user_agent(h_.get(), ua.data(), ua.size()));
    }
    // Copies the TLS and proxy options (a client setting: not with pool()).
    ExecutorBuilder &net_options(const NetOptions &o) {
        return check(httpbatch_executor_builder_set_net_options(h_.get(), o.get()));
    }
    // A response cache in memory (bytes, entries; least recently used out first), by HTTP's
    // caching rules, above the rate limiter: a hit costs no token and no connection.
    ExecutorBuilder &cache_memory(uint64_t max_bytes, size_t max_entries = 100000) {
        return check(httpbatch_executor_builder_set_cache_memory(h_.get(), max_bytes, max_entries));
    }
    // A response cache on disk in `dir` (kept across runs, shareable by processes).
    ExecutorBuilder &cache_dir(std::string_view dir, uint64_t max_bytes = uint64_t(1) << 30) {
        return check(httpbatch_executor_builder_set_cache_dir(h_.get(), dir.data(), dir.size(), max_bytes));
    }
    // HTTPBATCH_CACHE_MODE_DEFAULT, _REFRESH, _ONLY_IF_CACHED or _BYPASS.
    ExecutorBuilder &cache_mode(uint32_t mode) {
        return check(httpbatch_executor_builder_set_cache_mode(h_.get(), mode));
    }
    // Gzips request bodies of at least `min_size` bytes (Content-Encoding: gzip).
    ExecutorBuilder &compress_body(size_t min_size = 1024) {
        return check(httpbatch_executor_builder_set_compress_body(h_.get(), min_size));
    }
    // The executor keeps its own reference to the pool and the limiter.
    ExecutorBuilder &pool(const Pool &p) {
        keep_ = p.keep();
        return check(httpbatch_executor_builder_set_pool(h_.get(), p.get()));
    }
    ExecutorBuilder &limiter(const Limiter &l) {
        return check(httpbatch_executor_builder_set_limiter(h_.get(), l.get()));
    }
    // In-flight dedup: identical requests (method, URL, headers, body) in flight at once share
    // one wire request, each still getting its own item. GET, HEAD and OPTIONS only unless
    // `unsafe_methods`.
    ExecutorBuilder &dedup(bool on = true, bool unsafe_methods = false) {
        return check(httpbatch_executor_builder_set_dedup(h_.get(), on, unsafe_methods));
    }
    // Request coalescing: requests with the same method, URL and headers combined by `codec`
    // into one HTTP request of up to `max_batch`, a request waiting at most `max_delay` for
    // others. Per-item errors stay items (HTTPBATCH_RESULT_REMOTE for a JSON-RPC error object).
    template <class Rep, class Period>
    ExecutorBuilder &coalesce(Codec codec, size_t max_batch, std::chrono::duration<Rep, Period> max_delay) {
        return check(httpbatch_executor_builder_set_coalesce(h_.get(), static_cast<uint32_t>(codec), max_batch,
                                                             detail::to_ms(max_delay)));
    }
    // Bounds the requests coalescing holds while their batches fill (default 10,000); one more
    // ends at once as an item with HTTPBATCH_RESULT_QUEUE_FULL. Throws for 0.
    ExecutorBuilder &coalesce_max_queued(size_t max_queued) {
        return check(httpbatch_executor_builder_set_coalesce_max_queued(h_.get(), max_queued));
    }
    // Adaptive limits: each host's rate follows its server's Retry-After (429/503), RateLimit
    // and X-RateLimit-* headers, never above the limiter's rate.
    ExecutorBuilder &adaptive(bool on = true) {
        return check(httpbatch_executor_builder_set_adaptive(h_.get(), on ? 1 : 0));
    }
    httpbatch_executor_builder *get() noexcept { return h_.get(); }
    inline Executor build();

private:
    ExecutorBuilder &check(httpbatch_result rc) {
        detail::check(rc, httpbatch_executor_builder_last_error,
                      static_cast<const httpbatch_executor_builder *>(h_.get()));
        return *this;
    }
    std::shared_ptr<void> keep_;
    detail::Handle<httpbatch_executor_builder, httpbatch_executor_builder_free> h_;
};

// Runs batches on its worker threads. Thread-safe: share it by reference.
class Executor {
public:
    explicit Executor(httpbatch_executor *e, std::shared_ptr<void> keep = nullptr)
        : keep_(std::move(keep)), h_(e) {}
    // Runs the batch (its requests are moved out). Per-item failures are items, not exceptions.
    BatchResult execute(Batch &batch) const {
        httpbatch_batch_result *r = nullptr;
        detail::check(httpbatch_executor_execute(h_.get(), batch.get(), &r),
                      httpbatch_executor_last_error, static_cast<const httpbatch_executor *>(h_.get()));
        BatchResult result(r);
        batch.rethrow_callback_exception();
        return result;
    }
    // Runs the batch like execute(), handing each item to `f` as it settles (completion order,
    // with its input index) instead of keeping them: memory stays bounded whatever the batch's
    // size. The Item is valid during the call only. An exception `f` throws stops nothing, is
    // kept, and is rethrown once the batch has settled.
    Summary execute_streaming(Batch &batch, std::function<void(size_t index, const Item &item)> f) const {
        struct State {
            std::function<void(size_t, const Item &)> fn;
            std::exception_ptr error;
        } st{std::move(f), nullptr};
        auto trampoline = [](size_t index, const httpbatch_item *item, const httpbatch_header *headers,
                             void *user) noexcept {
            auto *s = static_cast<State *>(user);
            if (s->error) return;
            try {
                s->fn(index, Item(*item, headers, index));
            } catch (...) {
                s->error = std::current_exception();
            }
        };
        auto sum = detail::sized<httpbatch_batch_summary>();
        detail::check(httpbatch_executor_execute_streaming(h_.get(), batch.get(), trampoline, &st, &sum),
                      httpbatch_executor_last_error, static_cast<const httpbatch_executor *>(h_.get()));
        batch.rethrow_callback_exception();
        if (st.error) std::rethrow_exception(st.error);
        return Summary::from(sum);
    }
    // Sends `request` through the executor's limiter without waiting: runs it now if a token is
    // available, else reports the wait. Throws Error(HTTPBATCH_RESULT_NOT_FOUND) without a limiter.
    TryResult try_execute(const Request &request) const {
        httpbatch_batch_result *r = nullptr;
        uint64_t wait_us = 0;
        detail::check(httpbatch_executor_try_execute(h_.get(), request.get(), &r, &wait_us),
                      httpbatch_executor_last_error, static_cast<const httpbatch_executor *>(h_.get()));
        TryResult out;
        out.wait = detail::us(wait_us > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : wait_us);
        if (r != nullptr) out.result.emplace(r);
        return out;
    }
    ExecutorStats stats() const { return ExecutorStats::from(raw_stats()); }
    httpbatch_executor_stats raw_stats() const {
        auto s = detail::sized<httpbatch_executor_stats>();
        detail::check(httpbatch_executor_stats_get(h_.get(), &s));
        return s;
    }
    ConnectionStats connection_stats() const {
        auto s = detail::sized<httpbatch_connection_stats>();
        detail::check(httpbatch_executor_connection_stats(h_.get(), &s));
        return {s.opened, s.closed, s.live, s.requests, s.reused};
    }
    // Throws when the executor has no cache.
    httpbatch_cache_stats cache_stats() const {
        auto s = detail::sized<httpbatch_cache_stats>();
        detail::check(httpbatch_executor_cache_stats(h_.get(), &s));
        return s;
    }
    // All zero when dedup is off (httpbatch_features.hpp).
    inline DedupStats dedup_stats() const;
    // std::nullopt when the executor does not coalesce.
    inline std::optional<CoalesceStats> coalesce_stats() const;
    // What adaptive limits know about `host` (a URL or origin); std::nullopt when they are off
    // or its server sent nothing to follow yet.
    inline std::optional<AdaptiveHostStats> adaptive_host_stats(std::string_view host) const;
    void reset_stats() const { detail::check(httpbatch_executor_reset_stats(h_.get())); }
    void shutdown() const { detail::check(httpbatch_executor_shutdown(h_.get())); }
    const httpbatch_executor *get() const noexcept { return h_.get(); }

private:
    std::shared_ptr<void> keep_;  // the pool's health callback: destroyed after h_
    detail::Handle<httpbatch_executor, httpbatch_executor_free> h_;
};

inline Executor ExecutorBuilder::build() {
    httpbatch_executor *e = nullptr;
    // _build consumes the builder whatever the result.
    httpbatch_result rc = httpbatch_executor_builder_build(h_.release(), &e);
    detail::check(rc);
    return Executor(e, std::move(keep_));
}

}  // namespace httpbatch

#include "httpbatch_features.hpp"

#endif
