//! The status trail behind the message inspector (`GET /_sim/inspect`): the last
//! [`TRAIL_CAPACITY`] delivery statuses (sent, delivered, read, failed) the mock produced, with
//! their simulated times. The decision log holds what was decided at send time; the statuses
//! happen later on timers and only exist as webhook events, which leave the process. Kept here,
//! bounded, so an inspector can show a message's whole life; older entries are dropped and
//! counted, never silently lost.

use crate::clock::SimTime;
use crate::engine::errors::ErrorCode;
use crate::engine::events::{DeliveryStatus, Event, EventBody, Wamid};
use crate::engine::ids::PhoneNumberId;
use crate::pricing::Category;
use std::collections::VecDeque;

/// Statuses kept. About 64 bytes each: a few MiB whatever the run length.
pub const TRAIL_CAPACITY: usize = 100_000;

/// One status of one outbound message.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct StatusEntry {
    pub at: SimTime,
    pub wamid: Wamid,
    pub phone_number_id: PhoneNumberId,
    pub status: DeliveryStatus,
    /// For `failed`: why.
    pub code: Option<ErrorCode>,
    /// `pricing.category` and `pricing.billable` of the status, when it has pricing.
    pub category: Option<Category>,
    pub billable: bool,
}

#[derive(Debug)]
pub struct StatusTrail {
    capacity: usize,
    entries: VecDeque<StatusEntry>,
    evicted: u64,
}

impl Default for StatusTrail {
    fn default() -> Self {
        StatusTrail::new(TRAIL_CAPACITY)
    }
}

impl StatusTrail {
    pub fn new(capacity: usize) -> StatusTrail {
        StatusTrail {
            capacity,
            entries: VecDeque::new(),
            evicted: 0,
        }
    }

    /// Keeps the status events among `events` (others are not statuses).
    pub fn record(&mut self, events: &[Event]) {
        for ev in events {
            let EventBody::Status {
                info,
                status,
                error,
            } = &ev.body
            else {
                continue;
            };
            if self.capacity == 0 {
                self.evicted += 1;
                continue;
            }
            if self.entries.len() >= self.capacity {
                self.entries.pop_front();
                self.evicted += 1;
            }
            self.entries.push_back(StatusEntry {
                at: ev.at,
                wamid: info.wamid,
                phone_number_id: info.phone.id,
                status: *status,
                code: error.as_ref().map(|(c, _)| *c),
                category: info.billing.model.map(|_| info.billing.category),
                billable: info.billing.billable,
            });
        }
    }

    /// Statuses dropped because the trail was full.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// The kept statuses matching `keep`, oldest first, at most `limit` (the newest of them).
    pub fn matching(&self, limit: usize, keep: impl Fn(&StatusEntry) -> bool) -> Vec<StatusEntry> {
        let mut out: Vec<StatusEntry> = self
            .entries
            .iter()
            .rev()
            .filter(|e| keep(e))
            .take(limit)
            .copied()
            .collect();
        out.reverse();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::events::{Billing, DisplayNumber, MessageInfo, PhoneMeta};
    use crate::engine::ids::{WaId, WabaId};
    use crate::engine::reactions::FeedbackCategory;

    fn status(seq: u64, status: DeliveryStatus) -> Event {
        Event {
            at: SimTime(seq * 1_000_000),
            waba: WabaId(1),
            body: EventBody::Status {
                info: MessageInfo {
                    wamid: Wamid {
                        user: WaId(15550001),
                        seq,
                        tag: 1,
                        inbound: false,
                    },
                    phone: PhoneMeta {
                        id: PhoneNumberId(10),
                        display: DisplayNumber::parse("15550000").unwrap(),
                    },
                    billing: Billing::NONE,
                    template: None,
                    feedback_category: FeedbackCategory::Service,
                    biz_opaque_callback_data: None,
                    sent_at: SimTime(0),
                    recipient_identity_key_hash: None,
                    user: crate::engine::events::UserRef::plain(crate::engine::bsuid::user_id(
                        1,
                        crate::engine::ids::BusinessId(1),
                        WaId(15550001),
                        0,
                    )),
                },
                status,
                error: None,
            },
        }
    }

    #[test]
    fn keeps_statuses_up_to_capacity_and_counts_the_rest() {
        let mut t = StatusTrail::new(2);
        t.record(&[
            status(1, DeliveryStatus::Sent),
            status(2, DeliveryStatus::Sent),
        ]);
        assert_eq!(t.evicted(), 0);
        t.record(&[status(3, DeliveryStatus::Delivered)]);
        assert_eq!(t.evicted(), 1);
        let all = t.matching(10, |_| true);
        assert_eq!(
            all.iter().map(|e| e.wamid.seq).collect::<Vec<_>>(),
            vec![2, 3]
        );
        assert_eq!(all[1].status, DeliveryStatus::Delivered);
        assert_eq!(all[0].category, None, "no pricing model: no category");
        let one = t.matching(10, |e| e.wamid.seq == 3);
        assert_eq!(one.len(), 1);
        assert_eq!(t.matching(1, |_| true)[0].wamid.seq, 3, "newest kept");
    }
}
