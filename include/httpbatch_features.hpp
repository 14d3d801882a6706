// httpbatch_features.hpp: in-flight dedup, request coalescing and adaptive limits (their
// statistics as C++ structs) and pagination (Paginator: pages and items as input ranges, limits,
// a resumable JSON state) in the C++ wrapper. Part of httpbatch.hpp, which includes it: include
// httpbatch.hpp.
//
//     httpbatch::Executor ex = httpbatch::ExecutorBuilder()
//         .dedup()                                                      // share in-flight twins
//         .coalesce(httpbatch::Codec::JsonRpc, 50, std::chrono::milliseconds(5))
//         .adaptive()                                                   // follow 429/RateLimit
//         .build();
//     httpbatch::Paginator walk(ex, httpbatch::Request(url), "cursor:/meta/next:after");
//     walk.items_at("/data").limits(0, 1000);
//     for (std::string_view item : walk.items()) std::cout << item << "\n";  // JSON text
//     std::string saved = walk.state();                                     // resume() later
#ifndef HTTPBATCH_FEATURES_HPP
#define HTTPBATCH_FEATURES_HPP

#include "httpbatch.hpp"

namespace httpbatch {

// The dedup layer's counts (Executor::dedup_stats).
struct DedupStats {
    uint64_t requests = 0;   // given to the layer
    uint64_t bypassed = 0;   // not shared (unsafe methods), sent on their own
    uint64_t wire = 0;       // shared requests sent: one per distinct request in flight
    uint64_t saved = 0;      // requests that joined one in flight: wire requests saved
    uint64_t left = 0;       // waiters that left before the outcome (cancel, deadline)
    uint64_t abandoned = 0;  // shared requests cancelled because every waiter had left
    uint64_t in_flight = 0;  // shared requests in flight now
    static DedupStats from(const httpbatch_dedup_stats &s) {
        return {s.requests, s.bypassed, s.wire, s.saved, s.left, s.abandoned, s.in_flight};
    }
};

// Request coalescing's counts (Executor::coalesce_stats).
struct CoalesceStats {
    uint64_t logical = 0;          // logical requests that joined a batch
    uint64_t http_requests = 0;    // combined HTTP requests sent
    uint64_t batched = 0;          // logical requests sent inside combined requests
    uint64_t failed_requests = 0;  // combined requests that failed as a whole
    uint64_t item_errors = 0;      // logical requests that ended with an error
    uint64_t rejected = 0;         // refused because the queue was full (HTTPBATCH_RESULT_QUEUE_FULL)
    uint64_t abandoned = 0;        // callers that left before their outcome
    double mean_batch_size = 0;    // logical requests per HTTP request (0 before the first)
    static CoalesceStats from(const httpbatch_coalesce_stats &s) {
        return {s.logical, s.http_requests, s.batched, s.failed_requests, s.item_errors, s.rejected,
                s.abandoned, s.mean_batch_size};
    }
};

// What adaptive limits know about one host (Executor::adaptive_host_stats).
struct AdaptiveHostStats {
    double effective_rate_per_sec = 0;                 // the host's rate now
    std::optional<double> advertised_rate_per_sec;     // the quota its server last advertised
    uint64_t holds = 0;                                // answers that held the host
    std::chrono::milliseconds held_for{};              // how long it is still held
    uint64_t quota_answers = 0;                        // answers that carried quota headers
    static AdaptiveHostStats from(const httpbatch_adaptive_host_stats &s) {
        AdaptiveHostStats out;
        out.effective_rate_per_sec = s.effective_rate_per_sec;
        if (s.advertised_rate_per_sec > 0) out.advertised_rate_per_sec = s.advertised_rate_per_sec;
        out.holds = s.holds;
        auto ms = s.held_for_ms > static_cast<uint64_t>(INT64_MAX) ? INT64_MAX : static_cast<int64_t>(s.held_for_ms);
        out.held_for = std::chrono::milliseconds(ms);
        out.quota_answers = s.quota_answers;
        return out;
    }
};

inline DedupStats Executor::dedup_stats() const {
    auto s = detail::sized<httpbatch_dedup_stats>();
    detail::check(httpbatch_executor_dedup_stats(h_.get(), &s), httpbatch_executor_last_error,
                  static_cast<const httpbatch_executor *>(h_.get()));
    return DedupStats::from(s);
}

inline std::optional<CoalesceStats> Executor::coalesce_stats() const {
    auto s = detail::sized<httpbatch_coalesce_stats>();
    httpbatch_result rc = httpbatch_executor_coalesce_stats(h_.get(), &s);
    if (rc == HTTPBATCH_RESULT_NOT_FOUND) return std::nullopt;
    detail::check(rc, httpbatch_executor_last_error, static_cast<const httpbatch_executor *>(h_.get()));
    return CoalesceStats::from(s);
}

inline std::optional<AdaptiveHostStats> Executor::adaptive_host_stats(std::string_view host) const {
    auto s = detail::sized<httpbatch_adaptive_host_stats>();
    httpbatch_result rc = httpbatch_executor_adaptive_host_stats(h_.get(), host.data(), host.size(), &s);
    if (rc == HTTPBATCH_RESULT_NOT_FOUND) return std::nullopt;
    detail::check(rc, httpbatch_executor_last_error, static_cast<const httpbatch_executor *>(h_.get()));
    return AdaptiveHostStats::from(s);
}

// One page of a walk (Paginator::next_page, Paginator::pages). Its views are valid until the
// next call on the paginator.
struct Page {
    uint16_t status = 0;
    std::string_view body;
    std::vector<std::string_view> items;  // each item as compact JSON text
};

// A page that answered a status of 400 or more, or a body the strategy cannot read: the walk is
// over, and Paginator::state() still names this page (resume from it later). A page request
// that failed (transport, cancel, limiter) throws Error instead, with the same state.
class PageError : public std::runtime_error {
public:
    PageError(const std::string &message, uint16_t status, std::string body)
        : std::runtime_error(message), status_(status), body_(std::move(body)) {}
    uint16_t status() const noexcept { return status_; }
    const std::string &body() const noexcept { return body_; }

private:
    uint16_t status_;
    std::string body_;
};

// A walk over the pages of a paginated API, each page through an executor's stack (its limiter,
// retries, pool caps, dedup, cache). Move-only; use it from one thread at a time. Configure it
// before the first page; read pages or items, not both.
class Paginator {
public:
    // `strategy`: "link" (the Link header's rel="next"), "cursor:POINTER:PARAM" (the next cursor
    // at a JSON pointer, sent back as query parameter PARAM), "page:PARAM" or "offset:PARAM"
    // (numbers until an empty page or the total). `executor` must outlive the paginator.
    Paginator(const Executor &executor, const Request &first, std::string_view strategy) {
        httpbatch_paginator *p = nullptr;
        // An unknown strategy is HTTPBATCH_RESULT_INVALID_CONFIG.
        detail::check(httpbatch_paginator_new(executor.get(), first.get(), strategy.data(), strategy.size(), &p));
        h_.reset(p);
    }
    // Reads each page's items from the array at this JSON pointer ("": the page is the array).
    Paginator &items_at(std::string_view pointer) {
        return check(httpbatch_paginator_set_items(h_.get(), pointer.data(), pointer.size()));
    }
    // Reads the total number of items at this JSON pointer of the first page (page, offset).
    Paginator &total_at(std::string_view pointer) {
        return check(httpbatch_paginator_set_total(h_.get(), pointer.data(), pointer.size()));
    }
    // Stops after `max_pages` pages and `max_items` items, counting those before a resume
    // (0: no limit).
    Paginator &limits(uint64_t max_pages, uint64_t max_items) {
        return check(httpbatch_paginator_set_limits(h_.get(), max_pages, max_items));
    }
    // Cancelling `token` from any thread interrupts the page in flight (the paginator keeps its
    // own reference).
    Paginator &cancel_token(const CancelToken &token) {
        return check(httpbatch_paginator_set_cancel_token(h_.get(), token.get()));
    }
    // Continues from a state() saved earlier, with the same first request and strategy.
    Paginator &resume(std::string_view state) {
        return check(httpbatch_paginator_resume(h_.get(), state.data(), state.size()));
    }

    // The next page, or std::nullopt once the walk is over (last page, or a limit reached).
    std::optional<Page> next_page() {
        uint32_t outcome = HTTPBATCH_PAGE_DONE;
        check(httpbatch_paginator_next_page(h_.get(), &outcome));
        if (outcome == HTTPBATCH_PAGE_DONE) return std::nullopt;
        if (outcome == HTTPBATCH_PAGE_FAILED) throw_failed();
        Page page;
        check(httpbatch_paginator_page_status(h_.get(), &page.status));
        page.body = body();
        size_t n = 0;
        check(httpbatch_paginator_page_item_count(h_.get(), &n));
        page.items.reserve(n);
        for (size_t i = 0; i < n; i++) {
            const char *json = nullptr;
            size_t len = 0;
            check(httpbatch_paginator_page_item(h_.get(), i, &json, &len));
            page.items.emplace_back(json, len);
        }
        return page;
    }
    // The next item as compact JSON text (valid until the next call), or std::nullopt once the
    // walk is over.
    std::optional<std::string_view> next_item() {
        const char *json = nullptr;
        size_t len = 0;
        uint32_t outcome = HTTPBATCH_PAGE_DONE;
        check(httpbatch_paginator_next_item(h_.get(), &json, &len, &outcome));
        if (outcome == HTTPBATCH_PAGE_DONE) return std::nullopt;
        if (outcome == HTTPBATCH_PAGE_FAILED) throw_failed();
        return std::string_view(json, len);
    }
    // Where the walk stands, as JSON: save it and resume() from it later, here or elsewhere.
    std::string state() const {
        size_t len = 0;
        httpbatch_paginator_state(h_.get(), nullptr, 0, &len);
        std::string text(len + 1, '\0');
        verify(httpbatch_paginator_state(h_.get(), text.data(), text.size(), &len));
        text.resize(len);
        return text;
    }

    // An input iterator over a walk: each step reads the next page or item. The end iterator is
    // default-constructed; a failed page throws from ++ (or begin()).
    template <class T, std::optional<T> (Paginator::*Next)()>
    class Iterator {
    public:
        using iterator_category = std::input_iterator_tag;
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        using reference = const T &;
        using pointer = const T *;
        Iterator() = default;
        explicit Iterator(Paginator *p) : p_(p) { ++*this; }
        reference operator*() const { return *cur_; }
        pointer operator->() const { return &*cur_; }
        Iterator &operator++() {
            cur_ = (p_->*Next)();
            if (!cur_) p_ = nullptr;
            return *this;
        }
        void operator++(int) { ++*this; }
        friend bool operator==(const Iterator &a, const Iterator &b) { return a.p_ == b.p_; }
        friend bool operator!=(const Iterator &a, const Iterator &b) { return !(a == b); }

    private:
        Paginator *p_ = nullptr;
        std::optional<T> cur_;
    };
    template <class It>
    struct Range {
        Paginator *p;
        It begin() const { return It(p); }
        It end() const { return It(); }
    };
    using PageIterator = Iterator<Page, &Paginator::next_page>;
    using ItemIterator = Iterator<std::string_view, &Paginator::next_item>;
    // for (const httpbatch::Page &page : walk.pages()) …
    Range<PageIterator> pages() { return {this}; }
    // for (std::string_view item : walk.items()) … (JSON text, valid until the next step)
    Range<ItemIterator> items() { return {this}; }

    httpbatch_paginator *get() const noexcept { return h_.get(); }

private:
    std::string_view body() const {
        const uint8_t *b = nullptr;
        size_t len = 0;
        verify(httpbatch_paginator_page_body(h_.get(), &b, &len));
        return {reinterpret_cast<const char *>(b), len};
    }
    [[noreturn]] void throw_failed() const {
        uint16_t status = 0;
        verify(httpbatch_paginator_page_status(h_.get(), &status));
        throw PageError(detail::last_error(httpbatch_paginator_last_error,
                                           static_cast<const httpbatch_paginator *>(h_.get())),
                        status, std::string(body()));
    }
    void verify(httpbatch_result rc) const {
        detail::check(rc, httpbatch_paginator_last_error, static_cast<const httpbatch_paginator *>(h_.get()));
    }
    Paginator &check(httpbatch_result rc) {
        verify(rc);
        return *this;
    }
    detail::Handle<httpbatch_paginator, httpbatch_paginator_free> h_;
};

}  // namespace httpbatch

#endif
