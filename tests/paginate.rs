//! Pagination against the test server's paginated APIs (`/pages/…`): every strategy, limits,
//! resuming after a failure mid-walk, parallel pages in order, and every page through the stack.

mod support;

use httpbatch::{
    HttpClient, PageError, PageState, ParExecutor, Rate, RateLimitedExecutor, RateLimiter, Request,
    Strategy, paginate,
};
use support::Server;

fn ids(
    items: impl Iterator<Item = Result<serde_json::Value, PageError>>,
) -> Result<Vec<u64>, PageError> {
    items
        .map(|i| i.map(|v| v["id"].as_u64().expect("an id")))
        .collect()
}

fn get(server: &Server, path: &str) -> Request {
    Request::get(&server.url(path)).unwrap()
}

#[test]
fn link_headers_with_relative_urls() {
    let server = Server::start().unwrap();
    let client = HttpClient::new();
    let pages: Vec<_> = paginate(
        &client,
        get(&server, "/pages/link/25?per=10"),
        Strategy::link().items("/items"),
    )
    .collect::<Result<_, _>>()
    .unwrap();
    assert_eq!(pages.len(), 3);
    // The next link `25?per=10&page=2` was resolved against the page's URL.
    assert_eq!(
        pages[1].response().url(),
        server.url("/pages/link/25?per=10&page=2")
    );
    assert_eq!(
        pages.iter().map(|p| p.items().len()).collect::<Vec<_>>(),
        [10, 10, 5]
    );
    assert_eq!(pages[2].index(), 2);
    assert_eq!(server.requests_for("/pages/link/25"), 3);
}

#[test]
fn cursor_read_by_json_pointer_and_sent_back_as_a_parameter() {
    let server = Server::start().unwrap();
    let client = HttpClient::new();
    let strategy = Strategy::cursor("/meta/next", "after").items("/data");
    let mut walk = paginate(&client, get(&server, "/pages/cursor/95?per=10"), strategy).items();
    let got = ids(&mut walk).unwrap();
    assert_eq!(got, (1..=95).collect::<Vec<_>>());
    let state = walk.state();
    assert_eq!(
        (state.pages(), state.items(), state.is_done()),
        (10, 95, true)
    );
    assert_eq!(server.requests_for("/pages/cursor/95"), 10);
}

#[test]
fn page_numbers_until_an_empty_page_or_the_stated_total() {
    let server = Server::start().unwrap();
    let client = HttpClient::new();
    let strategy = Strategy::page("page").items("/items");
    let got = ids(paginate(
        &client,
        get(&server, "/pages/numbered/30?per=10"),
        strategy.clone(),
    )
    .items());
    assert_eq!(got.unwrap(), (1..=30).collect::<Vec<_>>());
    // Without a total, the empty fourth page ends the walk (and is not yielded).
    assert_eq!(server.requests_for("/pages/numbered/30"), 4);
    // With the total stated in the first page, no request past the last page.
    let walk = paginate(
        &client,
        get(&server, "/pages/numbered/31?per=10"),
        strategy.total("/total"),
    );
    let pages: Vec<_> = walk.collect::<Result<_, _>>().unwrap();
    assert_eq!(pages.len(), 4);
    assert_eq!(server.requests_for("/pages/numbered/31"), 4);
    // Offsets, counted by the items of each page.
    let strategy = Strategy::offset("offset").items("/items").total("/total");
    let got = ids(paginate(&client, get(&server, "/pages/numbered/23?per=5"), strategy).items());
    assert_eq!(got.unwrap(), (1..=23).collect::<Vec<_>>());
    assert_eq!(server.requests_for("/pages/numbered/23"), 5);
}

#[test]
fn limits_on_pages_and_items() {
    let server = Server::start().unwrap();
    let client = HttpClient::new();
    let s = Strategy::cursor("/meta/next", "after").items("/data");
    let walk = paginate(&client, get(&server, "/pages/cursor/100?per=10"), s.clone()).max_pages(3);
    assert_eq!(walk.count(), 3);
    let got = ids(
        paginate(&client, get(&server, "/pages/cursor/100?per=10"), s)
            .max_items(25)
            .items(),
    );
    assert_eq!(got.unwrap(), (1..=25).collect::<Vec<_>>());
    assert_eq!(server.requests_for("/pages/cursor/100"), 6);
}

/// A page cut by `max_items` is not lost: the saved state names it with the items already
/// handed out, and the resumed walk fetches it again for the rest — for each strategy, and for
/// a cut twice in a row.
#[test]
fn resume_after_an_item_limit_continues_inside_the_cut_page() {
    let server = Server::start().unwrap();
    let client = HttpClient::new();
    for (path, strategy) in [
        (
            "/pages/cursor/45?per=10",
            Strategy::cursor("/meta/next", "after").items("/data"),
        ),
        ("/pages/link/45?per=10", Strategy::link().items("/items")),
        (
            "/pages/numbered/45?per=10",
            Strategy::page("page").items("/items"),
        ),
        (
            "/pages/numbered/45?per=10",
            Strategy::offset("offset").items("/items"),
        ),
    ] {
        let mut seen = Vec::new();
        let mut state = PageState::new();
        for limit in [12, 14, 27, u64::MAX] {
            let mut items = paginate(&client, get(&server, path), strategy.clone())
                .resume(state)
                .max_items(limit)
                .items();
            seen.extend(ids(items.by_ref()).unwrap());
            assert_eq!(items.state().items(), seen.len() as u64, "{path}");
            state = PageState::from_json(&items.state().to_json()).unwrap();
        }
        assert_eq!(seen, (1..=45).collect::<Vec<_>>(), "{path} {strategy:?}");
        assert!(state.is_done(), "{path}");
        assert_eq!(
            state.pages(),
            5,
            "{path}: a page cut and resumed counts once"
        );
    }
    let cut = PageState::from_json(r#"{"next":null,"pages":1,"items":3,"done":false,"skip":3}"#);
    assert!(cut.unwrap().to_json().contains(r#""skip":3"#));
}

/// Walks until page 3 fails (a 500 once), saves the state as JSON, resumes, and checks that
/// every item came exactly once.
fn resume_after_failure(path: &str, strategy: Strategy) {
    let server = Server::start().unwrap();
    let client = HttpClient::new();
    let first = get(&server, path);
    let mut walk = paginate(&client, first.clone(), strategy.clone()).items();
    let mut seen = Vec::new();
    let err = loop {
        match walk.next().expect("the walk fails before its end") {
            Ok(v) => seen.push(v["id"].as_u64().unwrap()),
            Err(e) => break e,
        }
    };
    assert_eq!(err.status(), Some(500), "{err}");
    assert!(walk.next().is_none(), "a failed walk stops");
    assert_eq!(seen, (1..=20).collect::<Vec<_>>());
    let saved = walk.state().to_json();
    let state = PageState::from_json(&saved).unwrap();
    assert_eq!(
        (state.pages(), state.items(), state.is_done()),
        (2, 20, false)
    );
    let rest = ids(paginate(&client, first, strategy).resume(state).items()).unwrap();
    seen.extend(rest);
    assert_eq!(
        seen,
        (1..=45).collect::<Vec<_>>(),
        "after resuming from {saved}"
    );
}

#[test]
fn resume_after_a_failure_mid_walk_link() {
    resume_after_failure(
        "/pages/link/45?per=10&fail=r&fail_page=3",
        Strategy::link().items("/items"),
    );
}

#[test]
fn resume_after_a_failure_mid_walk_cursor() {
    resume_after_failure(
        "/pages/cursor/45?per=10&fail=r&fail_page=3",
        Strategy::cursor("/meta/next", "after").items("/data"),
    );
}

#[test]
fn resume_after_a_failure_mid_walk_page() {
    resume_after_failure(
        "/pages/numbered/45?per=10&fail=r&fail_page=3",
        Strategy::page("page").items("/items"),
    );
}

#[test]
fn resume_after_a_failure_mid_walk_offset() {
    resume_after_failure(
        "/pages/numbered/45?per=10&fail=r&fail_page=3",
        Strategy::offset("offset").items("/items").total("/total"),
    );
}

#[test]
fn known_total_fetches_the_rest_in_parallel_in_order() {
    let server = Server::start().unwrap();
    let par = ParExecutor::new(HttpClient::new(), 8).unwrap();
    let strategy = Strategy::page("page").items("/items").total("/total");
    let walk = paginate(
        &par,
        get(&server, "/pages/numbered/1000?per=10"),
        strategy.clone(),
    )
    .parallel(&par, 0);
    assert_eq!(ids(walk.items()).unwrap(), (1..=1000).collect::<Vec<_>>());
    // The first page through the stack, the other 99 in parallel windows; nothing past the end.
    assert_eq!(par.stats().requests, 100);
    assert_eq!(par.stats().calls, 99_u64.div_ceil(8));
    assert_eq!(server.requests_for("/pages/numbered/1000"), 100);

    // A failure in a window: the pages before it are yielded, the state points at it.
    let path = "/pages/numbered/100?per=10&fail=p&fail_page=5";
    let mut walk = paginate(&par, get(&server, path), strategy.clone()).parallel(&par, 3);
    let before: Vec<_> = walk.by_ref().map_while(Result::ok).collect();
    assert_eq!(before.len(), 4);
    assert_eq!(walk.state().next_number(), Some(5));
    let state = walk.state().clone();
    let rest: Vec<_> = paginate(&par, get(&server, path), strategy)
        .parallel(&par, 3)
        .resume(state)
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        rest.iter().map(|p| p.index()).collect::<Vec<_>>(),
        (4..10).collect::<Vec<_>>()
    );
    assert_eq!(rest[0].items()[0]["id"], 41);
}

#[test]
fn every_page_request_goes_through_the_stack() {
    let server = Server::start().unwrap();
    let limiter = RateLimiter::new(Rate::parse("10000/s").unwrap(), 100).unwrap();
    let stack = RateLimitedExecutor::new(HttpClient::new(), limiter.clone());
    let walk = paginate(
        &stack,
        get(&server, "/pages/link/50?per=10"),
        Strategy::link(),
    );
    assert_eq!(walk.count(), 5);
    assert_eq!(limiter.stats().admitted, 5);
}

#[test]
fn bodies_the_strategy_cannot_read_are_typed_errors() {
    let server = Server::start().unwrap();
    let client = HttpClient::new();
    let mut walk = paginate(&client, get(&server, "/ok"), Strategy::page("page"));
    match walk.next() {
        Some(Err(PageError::Body { response, message })) => {
            assert_eq!(response.status(), 200);
            assert!(message.contains("not JSON"), "{message}");
        }
        other => panic!("expected a body error, got {other:?}"),
    }
    let mut walk = paginate(
        &client,
        get(&server, "/pages/numbered/5"),
        Strategy::page("page").items("/nope"),
    );
    assert!(matches!(walk.next(), Some(Err(PageError::Body { .. }))));
    let mut walk = paginate(&client, get(&server, "/status/404"), Strategy::link());
    assert_eq!(walk.next().unwrap().unwrap_err().status(), Some(404));
    assert!(PageState::from_json("{\"next\":{\"url\":1}}").is_err());
}

/// Typed items (feature `json`): each item that does not fit the type is its own error, in its
/// place, and the walk goes on; a failed page still ends it, resumable.
#[cfg(feature = "json")]
mod typed {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    struct Small {
        id: u8,
    }

    #[test]
    fn items_as_deserialises_each_item_and_types_each_bad_one() {
        let server = Server::start().unwrap();
        let client = HttpClient::new();
        // 300 items over 3 pages; ids 256..=300 do not fit a u8.
        let walk = paginate(
            &client,
            get(&server, "/pages/numbered/300?per=100"),
            Strategy::page("page").items("/items"),
        );
        let mut items = walk.items_as::<Small>();
        let mut good = Vec::new();
        let mut bad = Vec::new();
        for item in items.by_ref() {
            match item {
                Ok(s) => good.push(u64::from(s.id)),
                Err(PageError::Item {
                    index,
                    item,
                    source,
                }) => {
                    assert_eq!(item["id"].as_u64(), Some(index + 1));
                    assert!(source.to_string().contains("u8"), "{source}");
                    bad.push(index);
                }
                Err(e) => panic!("the walk failed: {e}"),
            }
        }
        assert_eq!(good, (1..=255).collect::<Vec<_>>());
        assert_eq!(bad, (255..300).collect::<Vec<_>>());
        assert_eq!(items.state().items(), 300);
        assert!(items.state().is_done());
        // Three pages and the empty fourth that ends a numbered walk.
        assert_eq!(server.requests_for("/pages/numbered/300"), 4);
    }

    #[test]
    fn a_failed_page_ends_a_typed_walk_and_it_resumes() {
        let server = Server::start().unwrap();
        let client = HttpClient::new();
        let path = "/pages/link/30?per=10&fail=t&fail_page=2";
        let strategy = || Strategy::link().items("/items");
        let mut items = paginate(&client, get(&server, path), strategy()).items_as::<Small>();
        let first: Vec<u8> = items.by_ref().map_while(Result::ok).map(|s| s.id).collect();
        assert_eq!(first, (1..=10).collect::<Vec<_>>());
        assert!(items.next().is_none(), "the failed page ended the walk");
        let state = items.state().clone();
        let rest: Vec<u8> = paginate(&client, get(&server, path), strategy())
            .resume(state)
            .items_as::<Small>()
            .map(|r| r.map(|s| s.id))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rest, (11..=30).collect::<Vec<_>>());
    }

    #[test]
    fn an_item_error_is_not_a_page_error() {
        let e = serde_json::from_str::<Small>("{}").unwrap_err();
        let err = PageError::Item {
            index: 4,
            item: Box::new(serde_json::json!({})),
            source: e,
        };
        assert!(err.is_item());
        assert_eq!(err.status(), None);
        assert!(err.to_string().starts_with("item 4 "), "{err}");
        assert!(std::error::Error::source(&err).is_some());
    }
}
