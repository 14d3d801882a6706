//! Cancel tokens, the park-based wait and the admission list.

use super::*;

#[test]
fn wait_wakes_on_cancel() {
    let token = CancelToken::new();
    let ctx = Context::new().with_cancel(token.clone());
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        token.cancel();
    });
    let err = ctx
        .wait_until(Instant::now() + Duration::from_secs(60))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    t.join().unwrap();
}

#[test]
fn admit_runs_every_registered_admission_and_honours_prepaid() {
    use std::sync::atomic::AtomicUsize;
    struct Count(AtomicUsize);
    impl Admission for Count {
        fn admit(&self, _: &Request, ctx: &Context) -> Result<(), Error> {
            ctx.check()?;
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }
    let a = Arc::new(Count(AtomicUsize::new(0)));
    let b = Arc::new(Count(AtomicUsize::new(0)));
    let ctx = Context::new()
        .with_admission(a.clone())
        .with_admission(b.clone());
    let req = Request::get("http://127.0.0.1/").unwrap();
    ctx.admit(&req).unwrap();
    ctx.admit(&req).unwrap();
    assert_eq!(a.0.load(Ordering::SeqCst), 2);
    assert_eq!(b.0.load(Ordering::SeqCst), 2);
    assert!(Context::new().admit(&req).is_ok());
    // A prepaid admission is skipped once, by whichever clone admits first.
    let c = Arc::new(Count(AtomicUsize::new(0)));
    let ctx = Context::new()
        .with_admission(a.clone())
        .with_prepaid_admission(c.clone());
    let clone = ctx.clone();
    clone.admit(&req).unwrap();
    assert_eq!(c.0.load(Ordering::SeqCst), 0);
    ctx.admit(&req).unwrap();
    assert_eq!(c.0.load(Ordering::SeqCst), 1);
    assert_eq!(a.0.load(Ordering::SeqCst), 4);
}

#[test]
fn wait_past_deadline_fails_at_once() {
    let ctx = Context::new().with_deadline(Instant::now() + Duration::from_secs(60));
    let err = ctx
        .wait_until(Instant::now() + Duration::from_secs(120))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::DeadlineExceeded);
}

#[test]
fn listeners_run_once_and_guards_unregister() {
    use std::sync::atomic::AtomicUsize;
    let token = CancelToken::new();
    let n = Arc::new(AtomicUsize::new(0));
    let a = n.clone();
    let kept = token.on_cancel(Arc::new(move || {
        a.fetch_add(1, Ordering::SeqCst);
    }));
    let b = n.clone();
    drop(token.on_cancel(Arc::new(move || {
        b.fetch_add(100, Ordering::SeqCst);
    })));
    assert!(token.cancel_with(CancelReason::User));
    assert!(!token.cancel_with(CancelReason::Deadline));
    token.cancel();
    assert_eq!(n.load(Ordering::SeqCst), 1);
    let c = n.clone();
    let _late = token.on_cancel(Arc::new(move || {
        c.fetch_add(10, Ordering::SeqCst);
    }));
    assert_eq!(n.load(Ordering::SeqCst), 11);
    assert_eq!(token.reason(), Some(CancelReason::User));
    drop(kept);
}
