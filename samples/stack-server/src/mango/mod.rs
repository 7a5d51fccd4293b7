//! Mango, CouchDB's query language, as far as the stack's `/data` routes
//! expose it: selectors, indexes and `_find`.

mod collate;
mod find;
mod index;
mod selector;

pub(crate) use find::find;
pub use index::MangoIndex;
pub(crate) use index::define_index;
