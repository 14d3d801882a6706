//! [`Answer`]: what an admission sees of each answer the leaf reads.

use std::fmt;

use crate::response::{Headers, Response};

/// What an [`Admission`](crate::Admission) sees of an answer ([`Admission::observe`](crate::Admission::observe)): the status and the headers.
#[derive(Clone, Copy)]
pub struct Answer<'a> {
    status: u16,
    headers: AnswerHeaders<'a>,
}

#[derive(Clone, Copy)]
enum AnswerHeaders<'a> {
    Pairs(&'a Headers),
    Map(&'a ureq::http::HeaderMap),
}

impl fmt::Debug for Answer<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Answer")
            .field("status", &self.status)
            .finish()
    }
}

impl<'a> Answer<'a> {
    /// The answer a fake leaf observes for `response`.
    pub fn from_response(response: &'a Response) -> Answer<'a> {
        Answer {
            status: response.status(),
            headers: AnswerHeaders::Pairs(response.headers()),
        }
    }

    pub(crate) fn from_map(status: u16, headers: &'a ureq::http::HeaderMap) -> Answer<'a> {
        Answer {
            status,
            headers: AnswerHeaders::Map(headers),
        }
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The first value of header `name` (any case), if present and valid text.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        match self.headers {
            AnswerHeaders::Pairs(pairs) => pairs.first(name),
            AnswerHeaders::Map(map) => map.get(name).and_then(|v| v.to_str().ok()),
        }
    }
}
