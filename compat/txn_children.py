"""The client processes of compat/test_transactions_faults.py, each run as its own Python
process so that the test can kill it with kill -9 in the middle of a transaction.

`producer`: a confluent-kafka transactional producer writing numbered records
("GEN:TXN:I") in transactions of seeded random size to random partitions, committing or
aborting at random, until SIGTERM (it then finishes the transaction it is in). SIGUSR1
makes it leave its next transaction open after its records are flushed, and hang there
(the test then kills it: an open transaction only the coordinator's timeout ends).

`ctp`: a consume-transform-produce loop. It reads the input topic (read_committed, its
partitions assigned, starting at the group's committed offsets), writes "out:" + each
value to the same partition of the output topic and commits the consumed offsets with
send_offsets_to_transaction, one transaction per batch of seeded random size, until every
input partition is consumed to the end the test gives.

Both append one line per event to a log file, written with one os.write on an O_APPEND file
(a kill -9 loses no line that was written, and cuts none in half):
  ready GEN                 init_transactions returned
  begin GEN TXN N           a transaction of N records is about to begin
  end GEN TXN commit|abort  its records are produced; commit_transaction (or abort) is next
  committed GEN TXN         commit_transaction returned
  aborted GEN TXN           abort_transaction returned
  hang GEN TXN              SIGUSR1: records flushed, the transaction is left open
  note GEN TXN TEXT         an error the loop handled (retried, or aborted)
  fatal GEN TEXT            a fatal error; the process exits with code 3
  done GEN                  ctp: the input is consumed to its end
The test's oracle: a transaction whose commit returned is read exactly once, in order; one
whose abort returned is never read; one with neither is read whole or not at all.
"""

from __future__ import annotations

import argparse
import faulthandler
import os
import random
import signal
import sys
import time

from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

END_TIMEOUT_S = 20.0  # one commit_transaction / abort_transaction attempt


class Fatal(Exception):
    pass


class Log:
    def __init__(self, path: str, gen: int):
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.gen = gen

    def __call__(self, event: str, *fields) -> None:
        line = " ".join([event, str(self.gen), *(str(f) for f in fields)]) + "\n"
        os.write(self.fd, line.encode())


def txn_producer(args, log: Log, **conf) -> Producer:
    def delivered(err, msg):
        if err is not None and err.code() != KafkaError._PURGE_QUEUE:  # an abort's purge
            log("note", -1, f"delivery to {msg.topic()}-{msg.partition()}: {err.name()} {err.str()!r}")

    settings = {
        "on_delivery": delivered,
        "bootstrap.servers": args.bootstrap,
        "transactional.id": args.txn_id,
        "transaction.timeout.ms": args.txn_timeout_ms,
        "linger.ms": 5,
        "topic.metadata.refresh.interval.ms": 2000,
        "retry.backoff.ms": 100,
    }
    if os.environ.get("RILL_TXN_CHILD_DEBUG"):
        settings["debug"] = os.environ["RILL_TXN_CHILD_DEBUG"]
    settings.update(conf)
    return Producer(settings)


def end_txn(p: Producer, commit: bool, log: Log, txn: int) -> bool:
    """Commits (or aborts) the open transaction, retrying retriable errors and aborting after
    an abortable one; returns whether it committed. Fatal errors raise Fatal."""
    log("end", txn, "commit" if commit else "abort")
    while True:
        try:
            if commit:
                p.commit_transaction(END_TIMEOUT_S)
            else:
                p.abort_transaction(END_TIMEOUT_S)
            return commit
        except KafkaException as e:
            err = e.args[0]
            log("note", txn, f"{'commit' if commit else 'abort'}: {err.name()} {err.str()!r}")
            if err.fatal():
                raise Fatal(f"{err.name()}: {err.str()}") from e
            if commit and err.txn_requires_abort():
                commit = False
            elif not err.retriable():
                raise Fatal(f"not retriable: {err.name()}: {err.str()}") from e


def init(p: Producer, log: Log) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            p.init_transactions(30)
            log("ready")
            return
        except KafkaException as e:
            err = e.args[0]
            log("note", -1, f"init: {err.name()} {err.str()!r}")
            if err.fatal() or not err.retriable() or time.monotonic() > deadline:
                raise Fatal(f"init_transactions: {err.name()}: {err.str()}") from e


def run_producer(args) -> int:
    log = Log(args.log, args.gen)
    rng = random.Random(f"{args.seed}-{args.gen}")
    flags = {"stop": False, "hang": False}
    signal.signal(signal.SIGTERM, lambda *_: flags.update(stop=True))
    signal.signal(signal.SIGUSR1, lambda *_: flags.update(hang=True))
    p = txn_producer(args, log)
    init(p, log)
    txn = 0
    while not flags["stop"]:
        n = rng.randint(1, args.max_txn)
        commit = rng.random() < 0.7
        log("begin", txn, n)
        try:
            p.begin_transaction()
            for i in range(n):
                value = f"{args.gen}:{txn}:{i}".encode()
                while True:
                    try:
                        p.produce(args.topic, value=value, partition=rng.randrange(args.partitions))
                        break
                    except BufferError:
                        p.poll(0.05)
            # Mostly flushed before the end, so that aborted records are in the log
            # (an abort purges what was never sent) and a kill finds them there.
            if flags["hang"] or rng.random() < 0.8:
                left = p.flush(30)
                if flags["hang"]:
                    log("hang", txn, left)
                    while True:
                        time.sleep(1)
            committed = end_txn(p, commit, log, txn)
        except KafkaException as e:
            err = e.args[0]
            log("note", txn, f"produce: {err.name()} {err.str()!r}")
            if err.fatal():
                raise Fatal(f"{err.name()}: {err.str()}") from e
            committed = end_txn(p, False, log, txn)
        log("committed" if committed else "aborted", txn)
        txn += 1
    return 0


def run_ctp(args) -> int:
    log = Log(args.log, args.gen)
    rng = random.Random(f"{args.seed}-{args.gen}")
    ends = [int(e) for e in args.ends.split(",")]
    p = txn_producer(args, log)
    # The new producer fences the killed one and aborts its open transaction (and with it
    # the offsets that transaction would have committed) before this consumer asks for them.
    init(p, log)
    conf = {
        "bootstrap.servers": args.bootstrap,
        "group.id": args.group,
        "isolation.level": "read_committed",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "enable.partition.eof": False,
        "topic.metadata.refresh.interval.ms": 2000,
    }
    if os.environ.get("RILL_TXN_CHILD_DEBUG"):
        conf["debug"] = os.environ["RILL_TXN_CHILD_DEBUG"]
    c = Consumer(conf)
    assignment = [TopicPartition(args.input, i) for i in range(len(ends))]
    # Where this process starts (the group's committed offsets, or nothing yet): a partition
    # it reads nothing from has no position.
    start = [max(tp.offset, 0) for tp in c.committed(assignment, timeout=60)]
    c.assign(assignment)
    txn = aborted_in_a_row = 0
    while True:
        batch = [m for m in c.consume(num_messages=rng.randint(1, args.max_txn), timeout=0.5)]
        for m in batch:
            if m.error() is not None:
                raise Fatal(f"consume: {m.error()}")
        if not batch:
            pos = c.position(assignment)
            if all(max(tp.offset, s) >= end for tp, s, end in zip(pos, start, ends)):
                log("done")
                return 0
            continue
        log("begin", txn, len(batch))
        first = {}
        for m in batch:
            first.setdefault(m.partition(), m.offset())
        try:
            p.begin_transaction()
            for m in batch:
                p.produce(args.output, key=m.key(), value=b"out:" + m.value(), partition=m.partition())
            offsets = [tp for tp in c.position(assignment) if tp.offset >= 0]
            p.send_offsets_to_transaction(offsets, c.consumer_group_metadata(), END_TIMEOUT_S)
            committed = end_txn(p, True, log, txn)
        except KafkaException as e:
            err = e.args[0]
            log("note", txn, f"transform: {err.name()} {err.str()!r}")
            if err.fatal():
                raise Fatal(f"{err.name()}: {err.str()}") from e
            committed = end_txn(p, False, log, txn)
        if not committed:
            # Read the batch again: its output and its offsets were aborted together.
            for part, offset in first.items():
                c.seek(TopicPartition(args.input, part, offset))
        log("committed" if committed else "aborted", txn)
        txn += 1
        aborted_in_a_row = 0 if committed else aborted_in_a_row + 1
        if aborted_in_a_row >= 50:
            raise Fatal(f"{aborted_in_a_row} transactions in a row aborted")


def main() -> int:
    # SIGUSR2 prints every thread's Python stack to stderr: the test asks for it when a
    # child makes no progress, to show which client call it is in.
    faulthandler.register(signal.SIGUSR2, all_threads=True)
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["producer", "ctp"])
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--txn-id", required=True)
    ap.add_argument("--seed", required=True)
    ap.add_argument("--gen", type=int, required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--txn-timeout-ms", type=int, default=10000)
    ap.add_argument("--max-txn", type=int, default=40)
    ap.add_argument("--topic")
    ap.add_argument("--partitions", type=int, default=3)
    ap.add_argument("--input")
    ap.add_argument("--output")
    ap.add_argument("--group")
    ap.add_argument("--ends", help="ctp: the input's end offset of each partition, comma-separated")
    args = ap.parse_args()
    try:
        return run_producer(args) if args.mode == "producer" else run_ctp(args)
    except Fatal as e:
        Log(args.log, args.gen)("fatal", str(e).replace("\n", " "))
        return 3


if __name__ == "__main__":
    sys.exit(main())
