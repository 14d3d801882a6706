// httpbatch.hpp: a header-only C++17 RAII wrapper over the httpbatch C ABI (httpbatch.h).
//
// - Every handle owns its C object and frees it in its destructor; handles are move-only.
// - A failing call throws httpbatch::Error, carrying the numbered code and the object's message.
// - Per-item failures of a batch are not exceptions: they are items with outcome() != Response.
// - Thread safety follows the C header: Executor, CancelToken and TestServer may be shared
//   between threads (by reference), as may Pool and Limiter; Request, Batch, BatchResult,
//   RetryPolicy and builders may not.
//
//     httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(8).build();
//     httpbatch::Batch batch;
//     batch.add_get("http://127.0.0.1:8080/ok");
//     httpbatch::BatchResult res = ex.execute(batch);
//     for (const httpbatch::Item &item : res) std::cout << item.status() << "\n";
#ifndef HTTPBATCH_HPP
#define HTTPBATCH_HPP

#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "httpbatch.h"

namespace httpbatch {

// A failed call: its code (httpbatch_result) and a message. what() says each thing once: the
// message (which names the failure), or the code's description when there is no message.
class Error : public std::runtime_error {
public:
    Error(httpbatch_result code, const std::string &message)
        : std::runtime_error(message.empty() ? std::string(httpbatch_result_str(code)) : message),
          code_(code) {}
    httpbatch_result code() const noexcept { return code_; }

private:
    httpbatch_result code_;
};

namespace detail {

template <class T>
using LastErrorFn = httpbatch_result (*)(const T *, char *, size_t, size_t *);

// The object's last error text ("" if it cannot be read).
template <class T>
std::string last_error(LastErrorFn<T> fn, const T *obj) {
    size_t len = 0;
    fn(obj, nullptr, 0, &len);
    std::string text(len + 1, '\0');
    if (fn(obj, text.data(), text.size(), &len) != HTTPBATCH_RESULT_OK) return std::string();
    text.resize(len);
    return text;
}

inline void check(httpbatch_result rc) {
    if (rc != HTTPBATCH_RESULT_OK) throw Error(rc, std::string());
}

template <class T>
void check(httpbatch_result rc, LastErrorFn<T> fn, const T *obj) {
    if (rc != HTTPBATCH_RESULT_OK) throw Error(rc, last_error(fn, obj));
}

template <class T, void (*Free)(T *)>
struct Deleter {
    void operator()(T *p) const noexcept { Free(p); }
};

template <class T, void (*Free)(T *)>
using Handle = std::unique_ptr<T, Deleter<T, Free>>;

template <class S>
S sized() {
    S s;
    std::memset(&s, 0, sizeof s);
    s.struct_size = sizeof s;
    return s;
}

}  // namespace detail

// The library's version string, e.g. "0.1.0".
inline std::string_view version() { return httpbatch_version(); }

// A cancellation signal; cancel() is safe from any thread.
class CancelToken {
public:
    CancelToken() {
        httpbatch_cancel_token *t = nullptr;
        detail::check(httpbatch_cancel_token_new(&t));
        h_.reset(t);
    }
    void cancel() const { detail::check(httpbatch_cancel_token_cancel(h_.get())); }
    bool is_cancelled() const {
        bool c = false;
        detail::check(httpbatch_cancel_token_is_cancelled(h_.get(), &c));
        return c;
    }
    const httpbatch_cancel_token *get() const noexcept { return h_.get(); }

private:
    detail::Handle<httpbatch_cancel_token, httpbatch_cancel_token_free> h_;
};

// Pauses, resumes and cancels the batches it is set on; every member is safe from any thread.
// Pausing stops dispatch (requests in flight finish); the batch deadline keeps running.
class Control {
public:
    Control() {
        httpbatch_control *c = nullptr;
        detail::check(httpbatch_control_new(&c));
        h_.reset(c);
    }
    void pause() const { detail::check(httpbatch_control_pause(h_.get())); }
    void resume() const { detail::check(httpbatch_control_resume(h_.get())); }
    void cancel() const { detail::check(httpbatch_control_cancel(h_.get())); }
    bool is_paused() const {
        bool p = false;
        detail::check(httpbatch_control_is_paused(h_.get(), &p));
        return p;
    }
    const httpbatch_control *get() const noexcept { return h_.get(); }

private:
    detail::Handle<httpbatch_control, httpbatch_control_free> h_;
};

// One request; setters return *this for chaining and throw on invalid input.
class Request {
public:
    Request() {
        httpbatch_request *r = nullptr;
        detail::check(httpbatch_request_new(&r));
        h_.reset(r);
    }
    explicit Request(std::string_view url) : Request() { this->url(url); }
    Request(std::string_view method, std::string_view url) : Request() {
        this->method(method);
        this->url(url);
    }
    Request &method(std::string_view m) {
        return check(httpbatch_request_set_method(h_.get(), m.data(), m.size()));
    }
    Request &url(std::string_view u) {
        return check(httpbatch_request_set_url(h_.get(), u.data(), u.size()));
    }
    Request &header(std::string_view name, std::string_view value) {
        return check(httpbatch_request_add_header(h_.get(), name.data(), name.size(), value.data(),
                                                  value.size()));
    }
    Request &body(std::string_view bytes) {
        return check(httpbatch_request_set_body(
            h_.get(), reinterpret_cast<const uint8_t *>(bytes.data()), bytes.size()));
    }
    Request &timeout_ms(uint64_t ms) { return check(httpbatch_request_set_timeout_ms(h_.get(), ms)); }
    Request &tag(uint64_t t) { return check(httpbatch_request_set_tag(h_.get(), t)); }
    Request &priority(int32_t p) { return check(httpbatch_request_set_priority(h_.get(), p)); }
    Request &retry_non_idempotent(bool yes) {
        return check(httpbatch_request_set_retry_non_idempotent(h_.get(), yes));
    }
    const httpbatch_request *get() const noexcept { return h_.get(); }

private:
    Request &check(httpbatch_result rc) {
        detail::check(rc, httpbatch_request_last_error, static_cast<const httpbatch_request *>(h_.get()));
        return *this;
    }
    detail::Handle<httpbatch_request, httpbatch_request_free> h_;
};

using Progress = httpbatch_progress;

// The requests of one run and its options. Executor::execute moves the requests out.
class Batch {
public:
    Batch() {
        httpbatch_batch *b = nullptr;
        detail::check(httpbatch_batch_new(&b));
        h_.reset(b);
    }
    Batch(Batch &&) = default;
    Batch &operator=(Batch &&) = default;

    Batch &add(const Request &r) { return check(httpbatch_batch_add(h_.get(), r.get())); }
    Batch &add_get(std::string_view url) {
        return check(httpbatch_batch_add_get(h_.get(), url.data(), url.size()));
    }
    size_t size() const {
        size_t n = 0;
        detail::check(httpbatch_batch_len(h_.get(), &n));
        return n;
    }
    Batch &clear() { return check(httpbatch_batch_clear(h_.get())); }
    // Fail fast on error outcomes; with `min_status` (e.g. 500) also on such responses.
    Batch &fail_fast(bool yes, uint16_t min_status = 0) {
        check(httpbatch_batch_set_fail_fast(h_.get(), yes));
        return check(httpbatch_batch_set_fail_fast_status(h_.get(), min_status));
    }
    Batch &deadline_ms(uint64_t ms) { return check(httpbatch_batch_set_deadline_ms(h_.get(), ms)); }
    Batch &request_timeout_ms(uint64_t ms) {
        return check(httpbatch_batch_set_request_timeout_ms(h_.get(), ms));
    }
    Batch &concurrency(size_t n) { return check(httpbatch_batch_set_concurrency(h_.get(), n)); }
    // The batch keeps its own reference to the token.
    Batch &cancel_token(const CancelToken &t) {
        return check(httpbatch_batch_set_cancel_token(h_.get(), t.get()));
    }
    // The batch keeps its own reference to the control.
    Batch &control(const Control &c) {
        return check(httpbatch_batch_set_control(h_.get(), c.get()));
    }
    // `f` runs on the thread calling Executor::execute. If it throws, the exception is kept and
    // rethrown by execute() once the batch has settled (it never crosses the C boundary).
    Batch &on_progress(std::function<void(const Progress &)> f, uint64_t min_interval_ms = 100) {
        if (!f) {
            progress_.reset();
            return check(httpbatch_batch_set_progress(h_.get(), nullptr, nullptr, 0));
        }
        progress_ = std::make_unique<ProgressState>();
        progress_->fn = std::move(f);
        return check(httpbatch_batch_set_progress(h_.get(), &Batch::trampoline, progress_.get(),
                                                  min_interval_ms));
    }
    httpbatch_batch *get() noexcept { return h_.get(); }
    const httpbatch_batch *get() const noexcept { return h_.get(); }

    // Rethrows (and clears) an exception a progress callback threw during the last run.
    void rethrow_callback_exception() {
        if (progress_ && progress_->error) {
            std::exception_ptr e = std::exchange(progress_->error, nullptr);
            std::rethrow_exception(e);
        }
    }

private:
    struct ProgressState {
        std::function<void(const Progress &)> fn;
        std::exception_ptr error;
    };
    static void trampoline(const httpbatch_progress *p, void *user) noexcept {
        auto *st = static_cast<ProgressState *>(user);
        if (st->error) return;
        try {
            st->fn(*p);
        } catch (...) {
            st->error = std::current_exception();
        }
    }
    Batch &check(httpbatch_result rc) {
        detail::check(rc, httpbatch_batch_last_error, static_cast<const httpbatch_batch *>(h_.get()));
        return *this;
    }
    detail::Handle<httpbatch_batch, httpbatch_batch_free> h_;
    std::unique_ptr<ProgressState> progress_;
};

enum class Outcome : uint32_t {
    Response = HTTPBATCH_OUTCOME_RESPONSE,
    Error = HTTPBATCH_OUTCOME_ERROR,
    Cancelled = HTTPBATCH_OUTCOME_CANCELLED,
    NotRun = HTTPBATCH_OUTCOME_NOT_RUN,
};

// A view of one item; valid while its BatchResult lives.
class Item {
public:
    Item(const httpbatch_batch_result *res, size_t index) : res_(res), index_(index) {
        item_ = detail::sized<httpbatch_item>();
        detail::check(httpbatch_batch_result_item(res, index, &item_));
    }
    Outcome outcome() const noexcept { return static_cast<Outcome>(item_.outcome); }
    bool is_response() const noexcept { return outcome() == Outcome::Response; }
    uint32_t status() const noexcept { return item_.status; }
    httpbatch_result code() const noexcept { return item_.code; }
    std::string_view body() const noexcept {
        return {reinterpret_cast<const char *>(item_.body), item_.body_len};
    }
    std::string_view url() const noexcept { return {item_.url, item_.url_len}; }
    std::string_view error_message() const noexcept {
        return {item_.error_message, item_.error_message_len};
    }
    uint64_t tag() const noexcept { return item_.tag; }
    uint32_t attempts() const noexcept { return item_.attempts; }
    size_t header_count() const noexcept { return item_.header_count; }
    std::pair<std::string_view, std::string_view> header(size_t i) const {
        const char *n = nullptr, *v = nullptr;
        size_t nl = 0, vl = 0;
        detail::check(httpbatch_batch_result_header(res_, index_, i, &n, &nl, &v, &vl));
        return {{n, nl}, {v, vl}};
    }
    std::optional<std::string_view> header(std::string_view name) const {
        const char *v = nullptr;
        size_t vl = 0;
        httpbatch_result rc =
            httpbatch_batch_result_find_header(res_, index_, name.data(), name.size(), &v, &vl);
        if (rc == HTTPBATCH_RESULT_NOT_FOUND) return std::nullopt;
        detail::check(rc);
        return std::string_view(v, vl);
    }
    const httpbatch_item &raw() const noexcept { return item_; }

private:
    const httpbatch_batch_result *res_;
    size_t index_;
    httpbatch_item item_;
};

// The items of a run, in the order the requests were added.
class BatchResult {
public:
    explicit BatchResult(httpbatch_batch_result *r) : h_(r) {}
    size_t size() const {
        size_t n = 0;
        detail::check(httpbatch_batch_result_len(h_.get(), &n));
        return n;
    }
    Item operator[](size_t i) const { return Item(h_.get(), i); }
    httpbatch_batch_summary summary() const {
        auto s = detail::sized<httpbatch_batch_summary>();
        detail::check(httpbatch_batch_result_summary(h_.get(), &s));
        return s;
    }

    class iterator {
    public:
        iterator(const BatchResult *r, size_t i) : r_(r), i_(i) {}
        Item operator*() const { return (*r_)[i_]; }
        iterator &operator++() {
            ++i_;
            return *this;
        }
        bool operator!=(const iterator &o) const { return i_ != o.i_; }

    private:
        const BatchResult *r_;
        size_t i_;
    };
    iterator begin() const { return iterator(this, 0); }
    iterator end() const { return iterator(this, size()); }
    const httpbatch_batch_result *get() const noexcept { return h_.get(); }

private:
    detail::Handle<httpbatch_batch_result, httpbatch_batch_result_free> h_;
};

// A rate limiter: count requests per interval, bursts of up to burst. Thread-safe.
class Limiter {
public:
    Limiter(double count, uint64_t interval_ms, uint32_t burst) {
        httpbatch_limiter *l = nullptr;
        detail::check(httpbatch_limiter_new(count, interval_ms, burst, &l));
        h_.reset(l);
    }
    void set_rate(double count, uint64_t interval_ms) const {
        check(httpbatch_limiter_set_rate(h_.get(), count, interval_ms));
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
    inline Pool build();

private:
    PoolBuilder &check(httpbatch_result rc) {
        detail::check(rc, httpbatch_pool_builder_last_error,
                      static_cast<const httpbatch_pool_builder *>(h_.get()));
        return *this;
    }
    detail::Handle<httpbatch_pool_builder, httpbatch_pool_builder_free> h_;
};

// A connection pool: per-host in-flight caps, retries, warmup, health checks. Thread-safe.
class Pool {
public:
    explicit Pool(httpbatch_pool *p) : h_(p) {}
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
    detail::Handle<httpbatch_pool, httpbatch_pool_free> h_;
};

inline Pool PoolBuilder::build() {
    httpbatch_pool *p = nullptr;
    detail::check(httpbatch_pool_builder_build(h_.release(), &p));  // consumes the builder
    return Pool(p);
}

class Executor;

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
    ExecutorBuilder &max_body_size(uint64_t bytes) {
        return check(httpbatch_executor_builder_set_max_body_size(h_.get(), bytes));
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
    // The executor keeps its own reference to the pool and the limiter.
    ExecutorBuilder &pool(const Pool &p) { return check(httpbatch_executor_builder_set_pool(h_.get(), p.get())); }
    ExecutorBuilder &limiter(const Limiter &l) {
        return check(httpbatch_executor_builder_set_limiter(h_.get(), l.get()));
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
    httpbatch_executor_builder *get() noexcept { return h_.get(); }
    inline Executor build();

private:
    ExecutorBuilder &check(httpbatch_result rc) {
        detail::check(rc, httpbatch_executor_builder_last_error,
                      static_cast<const httpbatch_executor_builder *>(h_.get()));
        return *this;
    }
    detail::Handle<httpbatch_executor_builder, httpbatch_executor_builder_free> h_;
};

// Runs batches on its worker threads. Thread-safe: share it by reference.
class Executor {
public:
    explicit Executor(httpbatch_executor *e) : h_(e) {}
    // Runs the batch (its requests are moved out). Per-item failures are items, not exceptions.
    BatchResult execute(Batch &batch) const {
        httpbatch_batch_result *r = nullptr;
        detail::check(httpbatch_executor_execute(h_.get(), batch.get(), &r),
                      httpbatch_executor_last_error, static_cast<const httpbatch_executor *>(h_.get()));
        BatchResult result(r);
        batch.rethrow_callback_exception();
        return result;
    }
    httpbatch_executor_stats stats() const {
        auto s = detail::sized<httpbatch_executor_stats>();
        detail::check(httpbatch_executor_stats_get(h_.get(), &s));
        return s;
    }
    httpbatch_connection_stats connection_stats() const {
        auto s = detail::sized<httpbatch_connection_stats>();
        detail::check(httpbatch_executor_connection_stats(h_.get(), &s));
        return s;
    }
    // Throws when the executor has no cache.
    httpbatch_cache_stats cache_stats() const {
        auto s = detail::sized<httpbatch_cache_stats>();
        detail::check(httpbatch_executor_cache_stats(h_.get(), &s));
        return s;
    }
    void reset_stats() const { detail::check(httpbatch_executor_reset_stats(h_.get())); }
    void shutdown() const { detail::check(httpbatch_executor_shutdown(h_.get())); }
    const httpbatch_executor *get() const noexcept { return h_.get(); }

private:
    detail::Handle<httpbatch_executor, httpbatch_executor_free> h_;
};

inline Executor ExecutorBuilder::build() {
    httpbatch_executor *e = nullptr;
    // _build consumes the builder whatever the result.
    httpbatch_result rc = httpbatch_executor_builder_build(h_.release(), &e);
    detail::check(rc);
    return Executor(e);
}

}  // namespace httpbatch

#endif
