//! rill-log's integration tests, one test binary: the log cleaner's model test (`cleaner`),
//! corrupt and torn files
//! (`corruption`), kill -9 of a process appending (`crash`), the log-directory group commit
//! (`dir_group_commit`), many partitions (`many_partitions`), a model test of reads
//! (`model`), power loss through the storage seam's test double (`power_loss`), and
//! transactions (`transactions`).

mod cleaner;
mod corruption;
mod crash;
mod dir_group_commit;
mod many_partitions;
mod model;
mod power_loss;
mod transactions;
