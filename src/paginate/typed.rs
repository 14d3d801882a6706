//! [`TypedItems`]: a walk's items deserialised into the caller's type (feature `json`).

use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use super::{Items, PageError, PageState, Paginator};

impl<'a> Paginator<'a> {
    /// An iterator over the items of every page, each deserialised into `T` (feature `json`).
    ///
    /// An item that does not fit `T` is a [`PageError::Item`] in its own place — its index in
    /// the walk, the item as JSON and serde's error — and the walk goes on with the next item;
    /// a failed page ends the walk as with [`items`](Self::items).
    ///
    /// ```
    /// use httpbatch::{HttpClient, PageError, Request, Strategy, paginate};
    /// use httpbatch_testserver::Server;
    /// use serde::Deserialize;
    ///
    /// #[derive(Deserialize)]
    /// struct Thing { id: u8 } // ids above 255 do not fit
    ///
    /// let server = Server::start()?;
    /// let client = HttpClient::new();
    /// // 300 items `{"id":N}`, 100 to a page: `{"total":300,"page":P,"items":[…]}`.
    /// let first = Request::get(&server.url("/pages/numbered/300?per=100"))?;
    /// let strategy = Strategy::page("page").items("/items");
    /// let (mut ok, mut bad) = (0, Vec::new());
    /// for item in paginate(&client, first, strategy).items_as::<Thing>() {
    ///     match item {
    ///         Ok(thing) => ok += thing.id as u32,
    ///         Err(PageError::Item { index, .. }) => bad.push(index),
    ///         Err(e) => return Err(e.into()), // a page failed: the walk is over
    ///     }
    /// }
    /// assert_eq!(ok, (1..=255).sum::<u32>());
    /// assert_eq!(bad, (255..300).collect::<Vec<u64>>());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn items_as<T: DeserializeOwned>(self) -> TypedItems<'a, T> {
        TypedItems {
            items: self.items(),
            _type: PhantomData,
        }
    }
}

/// The items of a walk deserialised into `T`; see [`Paginator::items_as`].
pub struct TypedItems<'a, T> {
    items: Items<'a>,
    _type: PhantomData<fn() -> T>,
}

impl<T> TypedItems<'_, T> {
    /// Where the walk stands (see [`Items::state`]).
    pub fn state(&self) -> &PageState {
        self.items.state()
    }
}

impl<T> fmt::Debug for TypedItems<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TypedItems")
            .field("type", &std::any::type_name::<T>())
            .field("items", &self.items)
            .finish()
    }
}

impl<T: DeserializeOwned> Iterator for TypedItems<'_, T> {
    type Item = Result<T, PageError>;

    fn next(&mut self) -> Option<Self::Item> {
        let item = match self.items.next()? {
            Ok(v) => v,
            Err(e) => return Some(Err(e)),
        };
        // Deserialised from a reference, so a bad item is handed back as it was.
        Some(T::deserialize(&item).map_err(|source| {
            // The state counts the items of the pages read; those not handed out yet follow.
            let left = self.items.current.len() as u64;
            PageError::Item {
                index: self.items.state().items.saturating_sub(left + 1),
                item: Box::new(item),
                source,
            }
        }))
    }
}
