"""ListOffsets: earliest, latest and by timestamp, with both client libraries."""

from __future__ import annotations

from confluent_kafka import TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as KpTopicPartition

from clients import ck_consumer, create_topic, produce_all, producer

BASE_TS = 1_650_000_000_000
N = 100


def produce_timestamped(bootstrap: str, topic: str) -> None:
    create_topic(bootstrap, topic, partitions=2)
    # Partition 0: timestamps BASE_TS + 1000*i; partition 1 stays empty.
    msgs = [{"value": f"v{i}".encode(), "partition": 0, "timestamp": BASE_TS + 1000 * i} for i in range(N)]
    produce_all(producer(bootstrap), topic, msgs)


def test_list_offsets_confluent(broker, topic_name):
    produce_timestamped(broker.bootstrap, topic_name)
    c = ck_consumer(broker.bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic_name, 0), timeout=10) == (0, N)
        assert c.get_watermark_offsets(TopicPartition(topic_name, 1), timeout=10) == (0, 0)
        queries = [
            (BASE_TS - 5, 0),  # before everything: first record
            (BASE_TS, 0),  # exact match
            (BASE_TS + 1, 1),  # first record with timestamp >= query
            (BASE_TS + 42_000, 42),
            (BASE_TS + 1000 * (N - 1), N - 1),
            (BASE_TS + 1000 * N, -1),  # after everything: no such offset
        ]
        for ts, want in queries:
            res = c.offsets_for_times([TopicPartition(topic_name, 0, ts)], timeout=10)
            assert res[0].error is None, res[0].error
            assert res[0].offset == want, f"offsets_for_times({ts - BASE_TS:+d}) = {res[0].offset}"
        res = c.offsets_for_times([TopicPartition(topic_name, 1, BASE_TS)], timeout=10)
        assert res[0].offset == -1
    finally:
        c.close()


def test_list_offsets_kafka_python(broker, topic_name):
    produce_timestamped(broker.bootstrap, topic_name)
    c = KafkaConsumer(bootstrap_servers=broker.bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tp0, tp1 = KpTopicPartition(topic_name, 0), KpTopicPartition(topic_name, 1)
        assert c.beginning_offsets([tp0, tp1]) == {tp0: 0, tp1: 0}
        assert c.end_offsets([tp0, tp1]) == {tp0: N, tp1: 0}
        res = c.offsets_for_times({tp0: BASE_TS + 10_500, tp1: BASE_TS})
        assert res[tp0].offset == 11 and res[tp0].timestamp == BASE_TS + 11_000
        assert res[tp1] is None
        res = c.offsets_for_times({tp0: BASE_TS + 1000 * N})
        assert res[tp0] is None
    finally:
        c.close()


def test_delete_records_moves_earliest(broker, topic_name):
    from confluent_kafka.admin import AdminClient

    produce_timestamped(broker.bootstrap, topic_name)
    a = AdminClient({"bootstrap.servers": broker.bootstrap})
    fs = a.delete_records([TopicPartition(topic_name, 0, 40)], request_timeout=15)
    result = list(fs.values())[0].result(timeout=15)
    assert result.low_watermark == 40
    c = ck_consumer(broker.bootstrap)
    try:
        assert c.get_watermark_offsets(TopicPartition(topic_name, 0), timeout=10) == (40, N)
    finally:
        c.close()
