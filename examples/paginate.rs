//! Pagination: walk three kinds of paginated API — `Link` headers, a JSON cursor, and page
//! numbers with a stated total (the rest fetched in parallel) — through one rate-limited stack;
//! stop a walk half-way, save its state as JSON, and resume it.
//!
//! Run with `cargo run --example paginate`.

use httpbatch::{
    ConnectionPool, PageState, ParExecutor, Rate, RateLimitedExecutor, RateLimiter, Request,
    Strategy, paginate,
};
use httpbatch_testserver::Server;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server = Server::start()?;
    let limiter = RateLimiter::new(Rate::parse("200/s")?, 10)?;
    let stack = RateLimitedExecutor::new(ConnectionPool::new(), limiter.clone());

    // Link: rel="next" (relative URLs resolved), items at /items.
    let first = Request::get(&server.url("/pages/link/120?per=25"))?;
    let n = paginate(&stack, first, Strategy::link().items("/items"))
        .items()
        .count();
    println!("link: {n} items");

    // Cursor at /meta/next, sent back as ?after=…; stop after 3 pages and save the state.
    let first = Request::get(&server.url("/pages/cursor/100?per=20"))?;
    let strategy = Strategy::cursor("/meta/next", "after").items("/data");
    let mut walk = paginate(&stack, first.clone(), strategy.clone()).max_pages(3);
    for page in walk.by_ref() {
        let page = page?;
        println!(
            "cursor: page {} with {} items",
            page.index(),
            page.items().len()
        );
    }
    let saved = walk.state().to_json();
    println!("saved: {saved}");
    let state = PageState::from_json(&saved)?;
    let rest = paginate(&stack, first, strategy)
        .resume(state)
        .items()
        .count();
    println!("cursor: {rest} more items after resuming");
    assert_eq!(rest, 40);

    // Page numbers with the total in the first page: the other pages 8 at a time in parallel,
    // yielded in order, every one through the same limiter.
    let par = ParExecutor::new(&stack, 8)?;
    let first = Request::get(&server.url("/pages/numbered/1000?per=50"))?;
    let strategy = Strategy::page("page").items("/items").total("/total");
    let mut last = 0;
    for item in paginate(&par, first, strategy).parallel(&par, 0).items() {
        let id = item?["id"].as_u64().unwrap_or(0);
        assert_eq!(id, last + 1, "in order");
        last = id;
    }
    println!("numbered: {last} items in order");
    println!(
        "limiter admitted {} page requests",
        limiter.stats().admitted
    );
    Ok(())
}
