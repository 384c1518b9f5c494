//! What both listeners share: the call limit (CONCURRENCY_LIMIT, see [`CallLimit`]) and the byte budget
//! (MAX_INFLIGHT_BYTES): request bytes received and not yet dealt with, on both transports together. A request count alone does not bound memory — 32 connections × 32 streams of 4 MB gRPC messages
//! are 4 GB — so every data frame of a request body takes its size from one pool before a decoder sees it.
//!
//! An empty pool fails the request at once (REST 429, gRPC RESOURCE_EXHAUSTED, both "retry later") instead of
//! waiting: a body that waited would keep its bytes received so far, and enough waiting bodies deadlock.
//! Bytes go back when the request has been answered (REST, unary gRPC: the decoded request lives until then), or,
//! on gRPC streams, once the decoder has moved past the message they belong to.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, ready};

use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Counter of requests refused for want of budget.
pub const REFUSED_TOTAL: &str = "rul_inflight_bytes_refused_total";

/// Boxed error of a budgeted body (what hyper, axum and tonic bodies carry).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The request was refused because MAX_INFLIGHT_BYTES were already taken by other requests.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("server busy: request bytes in flight reached MAX_INFLIGHT_BYTES; retry later")]
pub struct BudgetExceeded;

impl BudgetExceeded {
    /// Whether `error` or any error in its source chain is a [`BudgetExceeded`] (body errors arrive wrapped by
    /// hyper, axum and the body-size limit).
    pub fn caused(error: &(dyn std::error::Error + 'static)) -> bool {
        let mut next = Some(error);
        while let Some(e) = next {
            if e.is::<BudgetExceeded>() {
                return true;
            }
            next = e.source();
        }
        false
    }
}

/// CONCURRENCY_LIMIT: prediction calls served at once over REST and gRPC together; one over it is shed at once
/// (REST 429, gRPC RESOURCE_EXHAUSTED, both `overloaded`). Cloning shares the limit.
#[derive(Clone, Debug)]
pub struct CallLimit(Arc<Semaphore>);

impl CallLimit {
    /// At most `calls` at once.
    pub fn new(calls: usize) -> Self {
        Self(Arc::new(Semaphore::new(calls.min(Semaphore::MAX_PERMITS))))
    }

    /// Slots free now.
    pub fn available(&self) -> usize {
        self.0.available_permits()
    }

    /// A slot held until the permit is dropped, or `None` when every slot is taken.
    pub fn try_enter(&self) -> Option<OwnedSemaphorePermit> {
        self.0.clone().try_acquire_owned().ok()
    }
}

/// What every listener of one server draws on: call slots and request bytes. Cloning shares both.
#[derive(Clone, Debug)]
pub struct Admission {
    /// CONCURRENCY_LIMIT.
    pub calls: CallLimit,
    /// MAX_INFLIGHT_BYTES.
    pub bytes: ByteBudget,
}

impl Admission {
    /// The limits `config` sets.
    pub fn new(config: &crate::ServerConfig) -> Self {
        Self {
            calls: CallLimit::new(config.concurrency_limit),
            bytes: ByteBudget::new(config.connections.max_inflight_bytes),
        }
    }
}

/// One pool of request bytes, shared by every listener of a server. Cloning shares the pool.
#[derive(Clone, Debug)]
pub struct ByteBudget {
    pool: Arc<Semaphore>,
    capacity: usize,
}

impl ByteBudget {
    /// A pool of `capacity` bytes (at most [`Semaphore::MAX_PERMITS`]).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.min(Semaphore::MAX_PERMITS);
        Self {
            pool: Arc::new(Semaphore::new(capacity)),
            capacity,
        }
    }

    /// MAX_INFLIGHT_BYTES.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Bytes held by requests right now.
    pub fn in_use(&self) -> usize {
        self.capacity - self.pool.available_permits().min(self.capacity)
    }

    /// An empty claim for one request.
    pub fn claim(&self) -> Claim {
        Claim {
            budget: self.clone(),
            held: Arc::new(Mutex::new(Held::default())),
        }
    }
}

/// The bytes one request holds. Clones share them; they return to the pool when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct Claim {
    budget: ByteBudget,
    held: Arc<Mutex<Held>>,
}

#[derive(Debug, Default)]
struct Held {
    /// Bytes of the message still being received (all bytes, for a body held whole).
    partial: Option<OwnedSemaphorePermit>,
    /// Bytes of messages received completely, returned once the decoder asks for more.
    complete: Option<OwnedSemaphorePermit>,
}

fn add(slot: &mut Option<OwnedSemaphorePermit>, permit: OwnedSemaphorePermit) {
    match slot {
        Some(held) => held.merge(permit),
        None => *slot = Some(permit),
    }
}

impl Claim {
    /// Takes `bytes` more from the pool, of which the first `completing` end messages (so they, and the partial
    /// bytes before them, become complete).
    fn take(&self, bytes: usize, completing: usize) -> Result<(), BudgetExceeded> {
        if bytes == 0 {
            return Ok(());
        }
        let n = u32::try_from(bytes).map_err(|_| BudgetExceeded)?;
        let mut permit = self
            .budget
            .pool
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| BudgetExceeded)?;
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if completing > 0 {
            if let Some(partial) = held.partial.take() {
                add(&mut held.complete, partial);
            }
            let rest = permit.split(bytes - completing.min(bytes));
            add(&mut held.complete, permit);
            if let Some(rest) = rest.filter(|p| p.num_permits() > 0) {
                held.partial = Some(rest);
            }
        } else {
            add(&mut held.partial, permit);
        }
        Ok(())
    }

    /// Returns the bytes of completely received messages to the pool.
    fn release_complete(&self) {
        let released = self
            .held
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .complete
            .take();
        drop(released);
    }

    /// Bytes this request holds.
    pub fn held(&self) -> usize {
        let held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        [&held.partial, &held.complete]
            .into_iter()
            .flatten()
            .map(OwnedSemaphorePermit::num_permits)
            .sum()
    }
}

/// Where a gRPC stream is in its length-prefixed messages (1 flag byte, 4 length bytes, then the message).
#[derive(Debug, Default)]
struct Framing {
    prefix: [u8; 5],
    prefix_len: usize,
    remaining: usize,
}

impl Framing {
    /// Moves past `data`; returns how many of its bytes belong to messages that end within it.
    fn advance(&mut self, data: &[u8]) -> usize {
        let (mut at, mut completed) = (0, 0);
        while at < data.len() {
            if self.prefix_len < self.prefix.len() {
                let n = (self.prefix.len() - self.prefix_len).min(data.len() - at);
                self.prefix[self.prefix_len..self.prefix_len + n]
                    .copy_from_slice(&data[at..at + n]);
                self.prefix_len += n;
                at += n;
                if self.prefix_len == self.prefix.len() {
                    let [_, a, b, c, d] = self.prefix;
                    self.remaining = u32::from_be_bytes([a, b, c, d]) as usize;
                }
            } else {
                let n = self.remaining.min(data.len() - at);
                self.remaining -= n;
                at += n;
            }
            if self.prefix_len == self.prefix.len() && self.remaining == 0 {
                self.prefix_len = 0;
                completed = at;
            }
        }
        completed
    }
}

/// A request body whose data frames are paid for from a [`ByteBudget`] before they are handed on.
#[derive(Debug)]
pub struct Budgeted<B> {
    inner: B,
    claim: Claim,
    /// Present on gRPC streams: bytes are returned message by message.
    framing: Option<Framing>,
    refused: fn(BudgetExceeded) -> BoxError,
}

impl<B> Budgeted<B> {
    /// A body whose bytes are held until every clone of `claim` is dropped (REST bodies, unary gRPC calls);
    /// `refused` turns an exhausted budget into the transport's error.
    pub fn whole(inner: B, claim: Claim, refused: fn(BudgetExceeded) -> BoxError) -> Self {
        Self {
            inner,
            claim,
            framing: None,
            refused,
        }
    }

    /// A gRPC stream's body: each message's bytes go back once the decoder asks for the data after it.
    pub fn per_message(inner: B, claim: Claim, refused: fn(BudgetExceeded) -> BoxError) -> Self {
        Self {
            inner,
            claim,
            framing: Some(Framing::default()),
            refused,
        }
    }
}

impl<B> Body for Budgeted<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        if this.framing.is_some() {
            // The decoder only asks for more data once it has taken every complete message it was given.
            this.claim.release_complete();
        }
        let frame = match ready!(Pin::new(&mut this.inner).poll_frame(cx)) {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => return Poll::Ready(Some(Err(e.into()))),
            None => return Poll::Ready(None),
        };
        if let Some(data) = frame.data_ref() {
            let completing = this.framing.as_mut().map_or(0, |f| f.advance(data));
            if let Err(exceeded) = this.claim.take(data.len(), completing) {
                metrics::counter!(REFUSED_TOTAL).increment(1);
                return Poll::Ready(Some(Err((this.refused)(exceeded))));
            }
        }
        Poll::Ready(Some(Ok(frame)))
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(e: BudgetExceeded) -> BoxError {
        Box::new(e)
    }

    /// A body of the given chunks.
    struct Chunks(Vec<Bytes>);

    impl Body for Chunks {
        type Data = Bytes;
        type Error = std::convert::Infallible;
        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            if self.0.is_empty() {
                return Poll::Ready(None);
            }
            Poll::Ready(Some(Ok(Frame::data(self.0.remove(0)))))
        }
    }

    fn next<B: Body<Data = Bytes, Error = BoxError> + Unpin>(
        body: &mut B,
    ) -> Option<Result<usize, BoxError>> {
        let waker = std::task::Waker::noop();
        match Pin::new(body).poll_frame(&mut Context::from_waker(waker)) {
            Poll::Ready(Some(Ok(frame))) => Some(Ok(frame.into_data().map_or(0, |d| d.len()))),
            Poll::Ready(Some(Err(e))) => Some(Err(e)),
            Poll::Ready(None) | Poll::Pending => None,
        }
    }

    fn message(len: usize) -> Vec<u8> {
        let mut framed = vec![0];
        framed.extend_from_slice(&(len as u32).to_be_bytes());
        framed.extend(std::iter::repeat_n(7u8, len));
        framed
    }

    #[test]
    fn a_whole_body_holds_its_bytes_until_the_claim_is_dropped() {
        let budget = ByteBudget::new(100);
        let claim = budget.claim();
        let chunks = Chunks(vec![Bytes::from(vec![1; 40]), Bytes::from(vec![2; 30])]);
        let mut body = Budgeted::whole(chunks, claim.clone(), boxed);
        assert_eq!(next(&mut body).map(Result::ok), Some(Some(40)));
        assert_eq!(next(&mut body).map(Result::ok), Some(Some(30)));
        assert!(next(&mut body).is_none());
        drop(body);
        assert_eq!((budget.in_use(), claim.held()), (70, 70));
        drop(claim);
        assert_eq!(budget.in_use(), 0);
    }

    #[test]
    fn an_exhausted_budget_refuses_the_frame_and_others_keep_theirs() {
        let budget = ByteBudget::new(100);
        let first = budget.claim();
        let mut big = Budgeted::whole(Chunks(vec![Bytes::from(vec![0; 80])]), first.clone(), boxed);
        assert!(matches!(next(&mut big), Some(Ok(80))));
        let mut late = Budgeted::whole(
            Chunks(vec![Bytes::from(vec![0; 30])]),
            budget.claim(),
            boxed,
        );
        let error = next(&mut late).and_then(Result::err).expect("refused");
        assert!(BudgetExceeded::caused(error.as_ref()), "{error}");
        assert!(error.to_string().contains("MAX_INFLIGHT_BYTES"));
        drop((big, first, late));
        assert_eq!(budget.in_use(), 0);
        let mut retried = Budgeted::whole(
            Chunks(vec![Bytes::from(vec![0; 30])]),
            budget.claim(),
            boxed,
        );
        assert!(matches!(next(&mut retried), Some(Ok(30))));
    }

    #[test]
    fn a_stream_returns_each_message_once_the_decoder_moves_on() {
        let budget = ByteBudget::new(1000);
        let claim = budget.claim();
        // Two messages of 100 and 50 bytes, split mid-message and with the second starting inside a chunk.
        let mut wire = message(100);
        wire.extend(message(50));
        let chunks = Chunks(vec![
            Bytes::copy_from_slice(&wire[..60]),
            Bytes::copy_from_slice(&wire[60..130]),
            Bytes::copy_from_slice(&wire[130..]),
        ]);
        let mut body = Budgeted::per_message(chunks, claim.clone(), boxed);
        assert!(matches!(next(&mut body), Some(Ok(60))));
        assert_eq!(budget.in_use(), 60, "first message still partial");
        assert!(matches!(next(&mut body), Some(Ok(70))));
        assert_eq!(
            budget.in_use(),
            130,
            "first message complete but not yet decoded"
        );
        assert!(matches!(next(&mut body), Some(Ok(30))));
        // Asking for the third chunk returned the first message (105 bytes framed); the second is complete now.
        assert_eq!(budget.in_use(), 55);
        assert!(next(&mut body).is_none());
        assert_eq!(
            budget.in_use(),
            0,
            "the decoder asked for more: every complete message is returned"
        );
    }

    #[test]
    fn framing_finds_message_ends_across_any_split() {
        let mut wire = message(3);
        wire.extend(message(0));
        wire.extend(message(9));
        let ends = [8, 13, 27];
        for split in 1..wire.len() {
            let mut framing = Framing::default();
            let first = framing.advance(&wire[..split]);
            let second = framing.advance(&wire[split..]);
            let expect_first = ends
                .iter()
                .copied()
                .filter(|&e| e <= split)
                .max()
                .unwrap_or(0);
            assert_eq!(first, expect_first, "split at {split}");
            assert_eq!(second, wire.len() - split, "split at {split}");
        }
    }

    #[test]
    fn bodies_that_fail_pass_their_error_on() {
        struct Broken;
        impl Body for Broken {
            type Data = Bytes;
            type Error = std::io::Error;
            fn poll_frame(
                self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
                Poll::Ready(Some(Err(std::io::Error::other("reset"))))
            }
        }
        let budget = ByteBudget::new(10);
        let mut body = Budgeted::whole(Broken, budget.claim(), boxed);
        let error = next(&mut body).and_then(Result::err).expect("error");
        assert!(!BudgetExceeded::caused(error.as_ref()));
    }
}
