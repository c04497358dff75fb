//! Everything that pushes events to clients. The [`Hub`] fans events out inside this process;
//! a [`RoomFeed`] turns hub events plus storage into one gap-free, duplicate-free sequence per
//! subscriber; transports (`sse`, `ws`, `poll`) only format what a feed yields. [`Presence`] ties open
//! streams to seats (`crate::jobs` runs the heartbeat and the reaper). Nothing here knows the
//! application's state: what each piece needs it is given.

pub mod bus;
mod direct;
mod feed;
mod frame;
mod hub;
mod lobby;
pub mod poll;
mod presence;
mod recent;
pub mod sse;
pub mod ws;

pub use feed::{FeedItem, RoomFeed};
pub use frame::Frame;
pub use hub::{Hub, RoomEvent, Subscription};
pub use lobby::LobbyFeed;
pub use presence::{Presence, PresenceGuard};
