//! The contract stage across ranges ([`ContractRanges`]): each worker's recording
//! conversion is made from the file's template once the first range has bound it to the
//! columns, and the rows and rejected records it recorded move into the file's conversion in
//! range order ([`take_recorded`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use crate::conversion::{Conversion, ConversionTemplate};
use crate::error::{Error, ErrorKind};
use crate::stage::{CONTRACT_STAGE, StageList};

/// Moves the records the merger's contract stage (`stages`) met while parsing to
/// `conversion`, then gives `parsed`, that parse's result. Taken even when the parse failed:
/// one thread writes each record's outputs as it meets the record, so a failure to write
/// them is met before an error further on (a record past the malformed limit, say).
pub(super) fn taken_after(
    parsed: Result<(), Error>,
    stages: &mut StageList,
    conversion: Option<&mut Conversion>,
) -> Result<(), Error> {
    take_recorded(stages, conversion, 0, 0)?;
    parsed
}

/// The contract stage of parallel parsing: the workers' recording conversions are made from
/// a template of the file's one, bound to the file's columns.
pub(super) struct ContractRanges {
    /// The template before any record: the first range's recorder binds itself.
    pub(super) start: ConversionTemplate,
    /// The template once bound, which the workers of later ranges wait for (delimited text
    /// with a header: the first range reads the header); `None` when the first range could
    /// not tell (an error, or a header longer than the range): its workers give up, and the
    /// merger parses their ranges.
    pub(super) bound: Mutex<Bound>,
    pub(super) ready: Condvar,
    /// Recorders of merged ranges, emptied, for later ranges: their column buffers keep
    /// their capacity, so a range does not fault in fresh memory for its rows.
    pub(super) spare: Mutex<Vec<Conversion>>,
}

/// What the workers know of the binding.
pub(super) enum Bound {
    /// The first range has not read the header yet.
    Pending,
    Known(Box<ConversionTemplate>),
    /// The first range could not tell.
    Unknown,
}

/// How long a worker waits for the binding between two looks at the stop flag.
pub(super) const BINDING_WAIT: Duration = Duration::from_millis(20);

impl ContractRanges {
    pub(super) fn new(template: ConversionTemplate, header: bool) -> ContractRanges {
        let bound = if header {
            Bound::Pending
        } else {
            Bound::Known(Box::new(template.clone()))
        };
        ContractRanges {
            start: template,
            bound: Mutex::new(bound),
            ready: Condvar::new(),
            spare: Mutex::new(Vec::new()),
        }
    }

    /// Tells the waiting workers the binding (first call only).
    pub(super) fn publish(&self, template: Option<ConversionTemplate>) {
        let mut bound = self.bound.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(*bound, Bound::Pending) {
            *bound = template.map_or(Bound::Unknown, |template| Bound::Known(Box::new(template)));
            self.ready.notify_all();
        }
    }

    /// A recording conversion bound to the file's columns, waiting for the binding;
    /// `None` when there is none or the merger stopped.
    pub(super) fn recorder(&self, stop: &AtomicBool) -> Option<Box<Conversion>> {
        let mut bound = self.bound.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            match &*bound {
                Bound::Known(template) => {
                    let spare = self
                        .spare
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .pop();
                    return spare.or_else(|| template.recorder(0).ok()).map(Box::new);
                }
                Bound::Unknown => return None,
                Bound::Pending => {}
            }
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            bound = self
                .ready
                .wait_timeout(bound, BINDING_WAIT)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Keeps the recorder in `stages`, whose records the merger took, for a later range.
    pub(super) fn recycle(&self, stages: &mut StageList) {
        if let Some(mut recorder) = std::mem::take(stages).into_conversion()
            && recorder.restart_recording()
        {
            let mut spare = self.spare.lock().unwrap_or_else(PoisonError::into_inner);
            spare.push(*recorder);
        }
    }
}

/// Publishes "no binding" when dropped before the binding was published (an error or a
/// panic in the first range), so that no worker waits for it forever.
pub(super) struct PublishOnDrop<'a>(pub(super) Option<&'a ContractRanges>);

impl Drop for PublishOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(contract) = self.0 {
            contract.publish(None);
        }
    }
}

/// A stage list holding only `recorder`.
pub(super) fn recorder_stages(recorder: Box<Conversion>) -> StageList {
    let mut stages = StageList::default();
    stages.push(CONTRACT_STAGE.to_owned(), recorder);
    stages
}

/// Moves the records of the recorder in `stages` to `conversion`, with records and lines
/// moved on by the shifts.
pub(super) fn take_recorded(
    stages: &mut StageList,
    conversion: Option<&mut Conversion>,
    record_shift: u64,
    line_shift: u64,
) -> Result<(), Error> {
    match (conversion, stages.conversion_mut()) {
        (Some(conversion), Some(recorder)) => {
            conversion.take_recorded(recorder, record_shift, line_shift)
        }
        (None, None) => Ok(()),
        _ => Err(ErrorKind::Internal("a contract stage without its recorder".into()).into()),
    }
}

/// Whether the rejected records of the recorder in `stages` keep `conversion` within the
/// contract's `max_count` (otherwise the merger parses the range itself, to fail where one
/// thread fails).
pub(super) fn rejects_fit(stages: &mut StageList, conversion: Option<&Conversion>) -> bool {
    match (conversion, stages.conversion_mut()) {
        (Some(conversion), Some(recorder)) => conversion.rejects_fit(recorder.rejected_count()),
        _ => true,
    }
}
