//! A cell document under the office's erasure orders: issuing one (the
//! office) and following a run of them (any replica). These are the rules
//! every storage applies alike — the phone's and the SQLite hub's
//! [`crate::Store`] and the PostgreSQL hub — so that the same order leads
//! every replica to the same epoch (see [`crate::erasure`]). Keeping the
//! orders, replacing the stored lineage and rewriting the files are the
//! storage's part.

use super::CellDoc;
use crate::erasure::{Erased, ErasureError, ErasureOrder, Subject, Unsigned, MAX_REASON_CHARS};
use crate::error::{Error, Result};
use crate::identity::KeyPair;
use automerge::ActorId;

/// What following the orders held for a cell leads to.
pub enum Followed {
    /// No order held leads on from the document's epoch.
    Nothing,
    /// An order leads on, but the new epoch cannot be built here (the
    /// document lacks changes the office cut at, or the rebuild differs
    /// from the office's): a peer must send the new document whole.
    Awaiting,
    /// The new epoch, with the replica's own later edits replayed onto it.
    Moved(Box<CellDoc>),
}

impl CellDoc {
    /// The office's order erasing `subjects` from this document, signed
    /// with `office` at time `at`, and the new epoch it leads to (written
    /// by `actor` from now on). Refused, with nothing made, when a subject
    /// is not in the document, none is named or the reason is too long.
    pub fn issue_order(
        &mut self,
        office: &KeyPair,
        subjects: Vec<Subject>,
        reason: &str,
        at: i64,
        actor: &ActorId,
    ) -> Result<(ErasureOrder, CellDoc)> {
        let cell_id = self.id();
        if subjects.is_empty() {
            return Err(ErasureError::NothingNamed(
                "name a member, a household, records or the whole cell".into(),
            )
            .into());
        }
        if reason.chars().count() > MAX_REASON_CHARS {
            return Err(ErasureError::ReasonTooLong.into());
        }
        for s in &subjects {
            let named = match s {
                Subject::Cell => true,
                Subject::Member(id) => self.has_member(id),
                Subject::Household(id) => self.has_household(id),
                Subject::Record(c, id) => self.holds_record(c.key(), id),
                Subject::MemberPart(id, part) => self.holds_member_part(id, part.key()),
            };
            if !named {
                return Err(ErasureError::NothingNamed(format!(
                    "cell {cell_id} holds no {s:?}; nothing was erased"
                ))
                .into());
            }
        }
        let mut cut = self.heads();
        cut.sort();
        let clock = self.clock();
        let epoch = self.epoch() + 1;
        let mut erased = Erased::default();
        erased.add(&subjects);
        self.erased_members(&mut erased, Some(&cut));
        let (doc, root) = self.next_epoch(&cut, &erased, epoch, at, actor)?;
        let order = ErasureOrder::sign(
            Unsigned {
                cell: cell_id,
                epoch,
                subjects,
                cut,
                clock,
                root,
                reason: reason.to_string(),
                issued_at: at,
            },
            office,
        );
        Ok((order, doc))
    }

    /// Follows the orders held for this cell (`orders`, any epochs, in
    /// epoch order) from the document's epoch on: only an unbroken run of
    /// them counts. The new epoch is rebuilt here from the cut of the next
    /// order, or taken from `whole`, a peer's document of an epoch the run
    /// leads to (refused unless it is exactly the office's epoch; what the
    /// peer added on top is left for the caller to merge as the peer's own
    /// changes). Then `actor`'s own edits the office never saw are replayed
    /// onto it, at `now`, without anything any order of the run erased.
    pub fn follow_orders(
        &mut self,
        orders: &[ErasureOrder],
        whole: Option<CellDoc>,
        actor: &ActorId,
        now: i64,
    ) -> Result<Followed> {
        let cell_id = self.id();
        let held = self.epoch();
        let chain: Vec<&ErasureOrder> = orders
            .iter()
            .filter(|o| o.epoch > held)
            .enumerate()
            .take_while(|(i, o)| o.epoch == held + 1 + *i as u32)
            .map(|(_, o)| o)
            .collect();
        let Some(first) = chain.first().copied() else {
            return Ok(Followed::Nothing);
        };
        let mut new = match whole {
            Some(mut doc) => {
                let Some(order) = chain.iter().find(|o| o.epoch == doc.epoch()) else {
                    return Err(Error::Refused {
                        doc: cell_id,
                        reason: format!(
                            "its epoch {} is not one an erasure order held here leads to",
                            doc.epoch()
                        ),
                    });
                };
                if !doc.holds_changes(&[order.root]) || doc.foreign_change(&[]).is_some() {
                    return Err(Error::Refused {
                        doc: cell_id,
                        reason: format!(
                            "it is not the epoch {} the office's order names",
                            order.epoch
                        ),
                    });
                }
                // Only the office's epoch is taken as it is.
                let mut root = doc
                    .automerge()
                    .fork_at(&[order.root])
                    .map_err(Error::from)?;
                root.set_actor(actor.clone());
                CellDoc::from_automerge(root)
            }
            None => {
                if chain.len() > 1 || !self.holds_changes(&first.cut) {
                    return Ok(Followed::Awaiting);
                }
                let mut erased = Erased::of([first]);
                self.erased_members(&mut erased, Some(&first.cut));
                let (doc, root) =
                    self.next_epoch(&first.cut, &erased, first.epoch, first.issued_at, actor)?;
                if root != first.root {
                    tracing::warn!(
                        cell = cell_id,
                        epoch = first.epoch,
                        "{}",
                        ErasureError::Mismatch {
                            cell: cell_id.clone(),
                            epoch: first.epoch
                        }
                    );
                    return Ok(Followed::Awaiting);
                }
                doc
            }
        };
        let mut erased = Erased::of(chain.iter().copied());
        self.erased_members(&mut erased, None);
        let after = first.cut_seq(actor.to_bytes());
        self.replay_own(&mut new, actor, after, &erased, now)?;
        Ok(Followed::Moved(Box::new(new)))
    }
}
