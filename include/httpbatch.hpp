// httpbatch.hpp: a header-only C++17 RAII wrapper over the httpbatch C ABI (httpbatch.h).
//
// - Every handle owns its C object and frees it in its destructor; handles are move-only.
// - A failing call throws httpbatch::Error, carrying the numbered code and the object's message.
// - Per-item failures of a batch are not exceptions: they are items with outcome() != Response.
// - Thread safety follows the C header: Executor, CancelToken and TestServer may be shared
//   between threads (by reference), as may Pool and Limiter; Request, Batch, BatchResult,
//   RetryPolicy and builders may not.
//
// - Times are std::chrono durations; summaries and statistics are C++ structs.
// - BatchResult is a random-access range of Item (std::iterator_traits, <algorithm>, ranges).
//
//     httpbatch::Executor ex = httpbatch::ExecutorBuilder().workers(8).build();
//     httpbatch::Batch batch;
//     batch.add_get("http://127.0.0.1:8080/ok").deadline(std::chrono::seconds(10));
//     httpbatch::BatchResult res = ex.execute(batch);
//     for (const httpbatch::Item &item : res) std::cout << item.status() << "\n";
//     auto ok = std::count_if(res.begin(), res.end(), [](const auto &it) { return it.is_success(); });
//
// The layers (Limiter, RetryPolicy, NetOptions, Pool) and the Executor are in
// httpbatch_stack.hpp, included at the end of this file.
#ifndef HTTPBATCH_HPP
#define HTTPBATCH_HPP

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <exception>
#include <functional>
#include <iterator>
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

// A duration in whole milliseconds, rounded up (so a deadline never fires early); negative
// durations are 0.
template <class Rep, class Period>
uint64_t to_ms(std::chrono::duration<Rep, Period> d) {
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(d).count();
    return ms <= 0 ? 0 : static_cast<uint64_t>(ms);
}

inline std::chrono::microseconds us(uint64_t v) {
    return std::chrono::microseconds(static_cast<std::chrono::microseconds::rep>(v));
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
    // The whole exchange's timeout (zero: the executor's).
    template <class Rep, class Period>
    Request &timeout(std::chrono::duration<Rep, Period> d) {
        return timeout_ms(detail::to_ms(d));
    }
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
class Event;

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

    // A request that fails validation is added all the same and ends as an error item in its
    // own slot, unless the batch is strict (then add() throws and adds nothing).
    Batch &add(const Request &r) { return check(httpbatch_batch_add(h_.get(), r.get())); }
    Batch &strict(bool yes) { return check(httpbatch_batch_set_strict(h_.get(), yes)); }
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
    // A deadline this long after the run starts (zero: none).
    template <class Rep, class Period>
    Batch &deadline(std::chrono::duration<Rep, Period> d) {
        return deadline_ms(detail::to_ms(d));
    }
    template <class Rep, class Period>
    Batch &request_timeout(std::chrono::duration<Rep, Period> d) {
        return request_timeout_ms(detail::to_ms(d));
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
    template <class Rep, class Period>
    Batch &on_progress(std::function<void(const Progress &)> f,
                       std::chrono::duration<Rep, Period> min_interval) {
        return on_progress(std::move(f), detail::to_ms(min_interval));
    }
    // `f` runs on the thread calling Executor::execute (or execute_streaming) for every item
    // started, completed and failed, on pause and resume, and once at the end (Drained). An
    // exception it throws is kept and rethrown once the batch has settled.
    inline Batch &on_event(std::function<void(const Event &)> f);
    httpbatch_batch *get() noexcept { return h_.get(); }
    const httpbatch_batch *get() const noexcept { return h_.get(); }

    // Rethrows (and clears) an exception a progress or event callback threw during the last run.
    void rethrow_callback_exception() {
        if (progress_ && progress_->error) {
            std::exception_ptr e = std::exchange(progress_->error, nullptr);
            std::rethrow_exception(e);
        }
        if (events_ && events_->error) {
            std::exception_ptr e = std::exchange(events_->error, nullptr);
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
    struct EventState {
        std::function<void(const Event &)> fn;
        std::exception_ptr error;
    };
    static inline void event_trampoline(const httpbatch_event *e, void *user) noexcept;
    detail::Handle<httpbatch_batch, httpbatch_batch_free> h_;
    std::unique_ptr<ProgressState> progress_;
    std::unique_ptr<EventState> events_;
};

enum class Outcome : uint32_t {
    Response = HTTPBATCH_OUTCOME_RESPONSE,
    Error = HTTPBATCH_OUTCOME_ERROR,
    Cancelled = HTTPBATCH_OUTCOME_CANCELLED,
    NotRun = HTTPBATCH_OUTCOME_NOT_RUN,
};

// A view of one item: valid while its BatchResult lives (or, for an item handed to an event or
// streaming callback, during the call). Cheap to copy.
class Item {
public:
    Item(const httpbatch_batch_result *res, size_t index) : res_(res), index_(index) {
        item_ = detail::sized<httpbatch_item>();
        detail::check(httpbatch_batch_result_item(res, index, &item_));
    }
    // A borrowed C item and its headers (item.header_count of them; may be NULL).
    Item(const httpbatch_item &item, const httpbatch_header *headers, size_t index)
        : index_(index), item_(item), headers_(headers) {}
    Outcome outcome() const noexcept { return static_cast<Outcome>(item_.outcome); }
    bool is_response() const noexcept { return outcome() == Outcome::Response; }
    // A response with a status below 400.
    bool is_success() const noexcept { return is_response() && item_.status < 400; }
    uint32_t status() const noexcept { return item_.status; }
    httpbatch_result code() const noexcept { return item_.code; }
    size_t index() const noexcept { return index_; }
    std::string_view body() const noexcept {
        return {reinterpret_cast<const char *>(item_.body), item_.body_len};
    }
    std::string_view url() const noexcept { return {item_.url, item_.url_len}; }
    std::string_view error_message() const noexcept {
        return {item_.error_message, item_.error_message_len};
    }
    uint64_t tag() const noexcept { return item_.tag; }
    uint32_t attempts() const noexcept { return item_.attempts; }
    // From submission until a worker started it.
    std::chrono::microseconds queued() const noexcept { return detail::us(item_.queued_us); }
    // Waiting for rate-limit tokens and retry backoff.
    std::chrono::microseconds waited() const noexcept { return detail::us(item_.waited_us); }
    // On the wire, summed over attempts.
    std::chrono::microseconds wire() const noexcept { return detail::us(item_.wire_us); }
    // From submission until the outcome settled.
    std::chrono::microseconds total() const noexcept { return detail::us(item_.total_us); }
    size_t header_count() const noexcept { return item_.header_count; }
    std::pair<std::string_view, std::string_view> header(size_t i) const {
        if (res_ == nullptr) {
            if (headers_ == nullptr || i >= item_.header_count)
                throw Error(HTTPBATCH_RESULT_INDEX_OUT_OF_RANGE, "no such header");
            return {{headers_[i].name, headers_[i].name_len}, {headers_[i].value, headers_[i].value_len}};
        }
        const char *n = nullptr, *v = nullptr;
        size_t nl = 0, vl = 0;
        detail::check(httpbatch_batch_result_header(res_, index_, i, &n, &nl, &v, &vl));
        return {{n, nl}, {v, vl}};
    }
    // The first header named `name` (case-insensitive).
    std::optional<std::string_view> header(std::string_view name) const {
        if (res_ == nullptr) {
            for (size_t i = 0; headers_ != nullptr && i < item_.header_count; i++) {
                std::string_view n(headers_[i].name, headers_[i].name_len);
                if (n.size() == name.size() && equal_ci(n, name))
                    return std::string_view(headers_[i].value, headers_[i].value_len);
            }
            return std::nullopt;
        }
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
    static bool equal_ci(std::string_view a, std::string_view b) noexcept {
        for (size_t i = 0; i < a.size(); i++) {
            char x = a[i], y = b[i];
            if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
            if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
            if (x != y) return false;
        }
        return true;
    }
    const httpbatch_batch_result *res_ = nullptr;
    size_t index_ = 0;
    httpbatch_item item_;
    const httpbatch_header *headers_ = nullptr;
};

// Latency percentiles of the requests that ran.
struct Latency {
    uint64_t count = 0;
    std::chrono::microseconds mean{}, p50{}, p90{}, p99{}, max{};
    static Latency from(const httpbatch_latency &l) {
        return {l.count, detail::us(l.mean_us), detail::us(l.p50_us), detail::us(l.p90_us),
                detail::us(l.p99_us), detail::us(l.max_us)};
    }
};

// What a run did, without the items.
struct Summary {
    uint64_t total = 0;
    uint64_t succeeded = 0;  // responses with a status below 400
    uint64_t responses = 0;  // any status
    std::array<uint64_t, 5> status_classes{};  // 1xx .. 5xx
    uint64_t errors = 0;     // not counting cancelled and not run
    uint64_t cancelled = 0;
    uint64_t not_run = 0;
    std::chrono::microseconds duration{};
    double throughput = 0;   // items per second
    Latency latency;
    uint64_t failed() const noexcept { return total - succeeded; }
    static Summary from(const httpbatch_batch_summary &s) {
        Summary out;
        out.total = s.total;
        out.succeeded = s.succeeded;
        out.responses = s.responses;
        for (size_t i = 0; i < out.status_classes.size(); i++) out.status_classes[i] = s.status_classes[i];
        out.errors = s.errors;
        out.cancelled = s.cancelled;
        out.not_run = s.not_run;
        out.duration = detail::us(s.duration_us);
        out.throughput = s.throughput;
        out.latency = Latency::from(s.latency);
        return out;
    }
};

// A per-item or run event (Batch::on_event); valid during the callback only.
class Event {
public:
    explicit Event(const httpbatch_event &e) : e_(e) {
        if (e.item != nullptr) item_.emplace(*e.item, nullptr, e.index);
    }
    httpbatch_event_kind kind() const noexcept { return e_.kind; }
    // The item's input index (Started, Completed, Failed).
    size_t index() const noexcept { return e_.index; }
    // The settled item (Completed, Failed); its headers are not available here.
    const std::optional<Item> &item() const noexcept { return item_; }
    std::chrono::microseconds paused_for() const noexcept { return detail::us(e_.paused_us); }

private:
    httpbatch_event e_;
    std::optional<Item> item_;
};

inline Batch &Batch::on_event(std::function<void(const Event &)> f) {
    if (!f) {
        events_.reset();
        return check(httpbatch_batch_set_on_event(h_.get(), nullptr, nullptr));
    }
    events_ = std::make_unique<EventState>();
    events_->fn = std::move(f);
    return check(httpbatch_batch_set_on_event(h_.get(), &Batch::event_trampoline, events_.get()));
}

inline void Batch::event_trampoline(const httpbatch_event *e, void *user) noexcept {
    auto *st = static_cast<EventState *>(user);
    if (st->error) return;
    try {
        st->fn(Event(*e));
    } catch (...) {
        st->error = std::current_exception();
    }
}

// The items of a run, in the order the requests were added.
class BatchResult {
public:
    explicit BatchResult(httpbatch_batch_result *r) : h_(r) {}
    size_t size() const {
        size_t n = 0;
        detail::check(httpbatch_batch_result_len(h_.get(), &n));
        return n;
    }
    bool empty() const { return size() == 0; }
    Item operator[](size_t i) const { return Item(h_.get(), i); }
    Summary summary() const { return Summary::from(raw_summary()); }
    httpbatch_batch_summary raw_summary() const {
        auto s = detail::sized<httpbatch_batch_summary>();
        detail::check(httpbatch_batch_result_summary(h_.get(), &s));
        return s;
    }

    // A random-access iterator over the items. Dereferencing gives an Item by value (a view),
    // so for C++17 algorithms it is an input iterator (iterator_category); C++20 ranges see a
    // random-access iterator (iterator_concept).
    class iterator {
    public:
        using iterator_category = std::input_iterator_tag;
#if __cplusplus >= 202002L
        using iterator_concept = std::random_access_iterator_tag;
#endif
        using value_type = Item;
        using difference_type = std::ptrdiff_t;
        using reference = Item;
        struct pointer {
            Item item;
            const Item *operator->() const noexcept { return &item; }
        };

        iterator() = default;
        iterator(const BatchResult *r, size_t i) : r_(r), i_(i) {}
        Item operator*() const { return (*r_)[i_]; }
        pointer operator->() const { return pointer{**this}; }
        Item operator[](difference_type n) const { return *(*this + n); }
        iterator &operator++() { ++i_; return *this; }
        iterator operator++(int) { iterator old = *this; ++i_; return old; }
        iterator &operator--() { --i_; return *this; }
        iterator operator--(int) { iterator old = *this; --i_; return old; }
        iterator &operator+=(difference_type n) { i_ = static_cast<size_t>(static_cast<difference_type>(i_) + n); return *this; }
        iterator &operator-=(difference_type n) { return *this += -n; }
        friend iterator operator+(iterator it, difference_type n) { return it += n; }
        friend iterator operator+(difference_type n, iterator it) { return it += n; }
        friend iterator operator-(iterator it, difference_type n) { return it -= n; }
        friend difference_type operator-(const iterator &a, const iterator &b) {
            return static_cast<difference_type>(a.i_) - static_cast<difference_type>(b.i_);
        }
        friend bool operator==(const iterator &a, const iterator &b) { return a.r_ == b.r_ && a.i_ == b.i_; }
        friend bool operator!=(const iterator &a, const iterator &b) { return !(a == b); }
        friend bool operator<(const iterator &a, const iterator &b) { return a.i_ < b.i_; }
        friend bool operator>(const iterator &a, const iterator &b) { return b < a; }
        friend bool operator<=(const iterator &a, const iterator &b) { return !(b < a); }
        friend bool operator>=(const iterator &a, const iterator &b) { return !(a < b); }

    private:
        const BatchResult *r_ = nullptr;
        size_t i_ = 0;
    };
    using const_iterator = iterator;
    iterator begin() const { return iterator(this, 0); }
    iterator end() const { return iterator(this, size()); }
    const httpbatch_batch_result *get() const noexcept { return h_.get(); }

private:
    detail::Handle<httpbatch_batch_result, httpbatch_batch_result_free> h_;
};

}  // namespace httpbatch

#include "httpbatch_stack.hpp"

#endif
