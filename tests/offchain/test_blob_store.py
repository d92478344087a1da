"""The blob store's contract (src/nmrstake/storage/blobs.py), on the local disk and on a real S3
server (SeaweedFS, tests/helpers/object_store.py) alike."""

from __future__ import annotations

import os

import pytest
import requests
from helpers.object_store import blob_url, object_store, s3_bucket, s3_env  # noqa: F401

from nmrstake.errors import ConfigError, InputError
from nmrstake.storage import blobs as blobs_module
from nmrstake.storage.blobs import (
    BYTES_CONTENT_TYPE,
    ZSTD_CONTENT_TYPE,
    BlobNotFound,
    BlobStore,
    LocalBlobs,
    S3Blobs,
    encode_object,
    open_blobs,
)


@pytest.fixture
def blobs(blob_url, tmp_path) -> BlobStore:  # noqa: F811
    return open_blobs(blob_url, root=tmp_path / "disk", cache=tmp_path / "cache")


def test_open_blobs__without_a_url__is_the_local_disk_at_root(tmp_path):
    store = open_blobs(None, root=tmp_path / "disk", cache=tmp_path / "cache")
    assert isinstance(store, LocalBlobs)
    store.put_bytes("a/b.txt", b"x")
    assert (tmp_path / "disk" / "a" / "b.txt").read_bytes() == b"x"


def test_put_bytes__then_get_stat_list_and_delete__see_the_object(blobs):
    stat = blobs.put_bytes("results/round-1/manifest.json", b"{}\n")
    assert stat.size == 3
    assert blobs.get_bytes("results/round-1/manifest.json") == b"{}\n"
    assert blobs.stat("results/round-1/manifest.json") == stat
    assert blobs.stat("results/round-1/missing.json") is None
    blobs.put_bytes("results/round-1/results.csv", b"a\n")
    blobs.put_bytes("results/round-2/results.csv", b"b\n")
    blobs.put_bytes("other/x", b"c")
    assert blobs.list("results/round-1/") == ["results/round-1/manifest.json", "results/round-1/results.csv"]
    assert blobs.list("results/round-") == ["results/round-1/manifest.json", "results/round-1/results.csv",
                                            "results/round-2/results.csv"]
    assert blobs.list() == ["other/x", "results/round-1/manifest.json", "results/round-1/results.csv",
                            "results/round-2/results.csv"]
    blobs.delete("results/round-1/manifest.json")
    blobs.delete("results/round-1/manifest.json")  # twice: nothing to do
    assert blobs.stat("results/round-1/manifest.json") is None
    assert blobs.list("results/round-1/") == ["results/round-1/results.csv"]


def test_put_file__then_fetch__gives_a_local_file_of_the_same_bytes(blobs, tmp_path):
    source = tmp_path / "source.csv"
    source.write_bytes(b"id,model\n1,0.5\n" * 1000)
    blobs.put_file("files/data.csv", source)
    fetched = blobs.fetch("files/data.csv")
    assert fetched.read_bytes() == source.read_bytes()
    assert blobs.fetch("files/data.csv") == fetched  # the same file again (cached on S3)


def test_fetch__after_the_object_changed__gives_the_new_bytes(blobs):
    blobs.put_bytes("k/v.txt", b"first")
    assert blobs.fetch("k/v.txt").read_bytes() == b"first"
    before = blobs.stat("k/v.txt")
    blobs.put_bytes("k/v.txt", b"second, longer")
    assert blobs.stat("k/v.txt") != before
    assert blobs.fetch("k/v.txt").read_bytes() == b"second, longer"


def test_put_file__of_the_same_bytes_twice_content_addressed__keeps_one_object(blobs, tmp_path):
    source = tmp_path / "0xabc.csv"
    source.write_bytes(b"id,m\n1,0.1\n")
    first = blobs.put_file("files/0xabc.csv", source, content_addressed=True)
    second = blobs.put_file("files/0xabc.csv", source, content_addressed=True)
    assert first == second  # the object there was kept, not written again
    assert blobs.list("files/") == ["files/0xabc.csv"]
    assert blobs.get_bytes("files/0xabc.csv") == source.read_bytes()


@pytest.mark.parametrize("key", ["", "/abs", "a//b", "a/../b", "..", "./a", "a/.hidden", "a\\b", "a/"])
def test_a_key_that_is_not_a_relative_path__is_refused_naming_it(blobs, key):
    with pytest.raises(InputError, match="key"):
        blobs.put_bytes(key, b"x")
    with pytest.raises(InputError, match="key"):
        blobs.get_bytes(key)


def test_get_bytes_and_fetch__of_a_missing_object__name_the_store_and_the_key(blobs):
    with pytest.raises(BlobNotFound, match=r"no object at key 'results/nothing\.json'") as raised:
        blobs.get_bytes("results/nothing.json")
    assert blobs.url in raised.value.message
    with pytest.raises(BlobNotFound, match="results/nothing.json"):
        blobs.fetch("results/nothing.json")


def test_a_store_url_that_is_not_s3__is_refused_naming_it(tmp_path):
    for url in ("http://bucket/x", "s3://", "s3://user@bucket/x", "s3://bucket/a/../b"):
        with pytest.raises(InputError, match="store URL"):
            open_blobs(url, root=tmp_path, cache=tmp_path)


def test_a_missing_bucket__is_a_config_error_naming_it(s3_env, tmp_path):  # noqa: F811
    store = open_blobs("s3://no-such-bucket-here/p", root=tmp_path, cache=tmp_path / "cache")
    with pytest.raises(ConfigError, match="bucket 'no-such-bucket-here' does not exist"):
        store.stat("a")
    with pytest.raises(ConfigError, match="no-such-bucket-here"):
        store.put_bytes("a", b"x")


def test_refused_credentials__are_a_config_error_naming_the_url(s3_env, s3_bucket, monkeypatch, tmp_path):  # noqa: F811
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    store = open_blobs(f"s3://{s3_bucket}/p", root=tmp_path, cache=tmp_path / "cache")
    with pytest.raises(ConfigError, match=f"s3://{s3_bucket}/p.*: the S3 endpoint .* refused the credentials"):
        store.put_bytes("a", b"x")


def test_an_unreachable_endpoint__is_a_config_error_naming_it(s3_env, tmp_path, monkeypatch):  # noqa: F811
    from nmrstake.localchain import free_port

    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = open_blobs("s3://bucket-x/p", root=tmp_path, cache=tmp_path / "cache", endpoint_url=endpoint)
    with pytest.raises(ConfigError, match=f"cannot reach the S3 endpoint {endpoint}"):
        store.get_bytes("a")


def test_presigned_put_then_get__move_the_bytes_without_credentials(s3_env, s3_bucket, tmp_path):  # noqa: F811
    store = open_blobs(f"s3://{s3_bucket}/up", root=tmp_path, cache=tmp_path / "cache")
    assert isinstance(store, S3Blobs)
    put = requests.put(store.presign_put("files/p.csv"), data=b"id,m\n1,0.5\n", timeout=30)
    assert put.status_code == 200, put.text
    assert store.get_bytes("files/p.csv") == b"id,m\n1,0.5\n"
    got = requests.get(store.presign_get("files/p.csv"), timeout=30)
    assert got.status_code == 200 and got.content == b"id,m\n1,0.5\n"


def _stored(store: S3Blobs, key: str) -> dict:
    """The object as the bucket holds it (its HEAD), beside what the store reads of it."""
    return store.client.head_object(Bucket=store.location.bucket, Key=store.object_key(key))


def test_on_s3__a_file_that_compresses__is_kept_as_a_zstd_frame_and_read_back_as_its_bytes(s3_env, s3_bucket, tmp_path):  # noqa: F811
    store = open_blobs(f"s3://{s3_bucket}/z", root=tmp_path, cache=tmp_path / "cache")
    assert isinstance(store, S3Blobs)
    source = tmp_path / "predictions.csv"
    source.write_bytes(b"id,prediction\n" + b"".join(b"n%06d,0.%06d\n" % (i, i * 7919 % 10**6) for i in range(5000)))
    written = store.put_file("submissions/p.csv", source)
    head = _stored(store, "submissions/p.csv")
    assert head["ContentType"] == ZSTD_CONTENT_TYPE
    assert head["ContentLength"] * 2 < source.stat().st_size  # at rest: less than half
    there = store.stat("submissions/p.csv")
    assert there is not None and written.size == source.stat().st_size == there.size
    assert store.get_bytes("submissions/p.csv") == source.read_bytes()
    assert store.fetch("submissions/p.csv").read_bytes() == source.read_bytes()
    # the same bytes again: the same object (content addressing keeps its identity)
    assert store.put_file("submissions/p.csv", source, content_addressed=True) == written


def test_on_s3__bytes_that_do_not_compress__are_kept_as_they_are(s3_env, s3_bucket, tmp_path):  # noqa: F811
    store = open_blobs(f"s3://{s3_bucket}/z", root=tmp_path, cache=tmp_path / "cache")
    assert isinstance(store, S3Blobs)
    noise = os.urandom(50_000)
    store.put_bytes("files/noise.bin", noise)
    head = _stored(store, "files/noise.bin")
    assert head["ContentType"] == BYTES_CONTENT_TYPE and head["ContentLength"] == len(noise)
    assert store.get_bytes("files/noise.bin") == noise
    assert store.fetch("files/noise.bin").read_bytes() == noise


def test_on_s3__a_large_file__goes_multipart_compressed_and_reads_back_whole(s3_env, s3_bucket, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setattr(blobs_module, "SINGLE_PUT_BYTES", 64 * 1024)  # "large" without writing 8 MiB
    store = open_blobs(f"s3://{s3_bucket}/z", root=tmp_path, cache=tmp_path / "cache")
    assert isinstance(store, S3Blobs)
    source = tmp_path / "big.csv"
    source.write_bytes(b"".join(b"row %d,%d\n" % (i, i * i) for i in range(40_000)))
    assert store.put_file("files/big.csv", source).size == source.stat().st_size
    assert _stored(store, "files/big.csv")["ContentType"] == ZSTD_CONTENT_TYPE
    assert store.fetch("files/big.csv").read_bytes() == source.read_bytes()
    assert not list((tmp_path / "cache").glob(".put.*"))  # its compressed copy is gone


def test_on_s3__a_compressed_object_whose_frame_is_damaged__is_a_config_error_naming_it(s3_env, s3_bucket, tmp_path):  # noqa: F811
    store = open_blobs(f"s3://{s3_bucket}/z", root=tmp_path, cache=tmp_path / "cache")
    assert isinstance(store, S3Blobs)
    frame = encode_object(b"id,prediction\n" + b"n1,0.5\n" * 1000)
    store.client.put_object(Bucket=s3_bucket, Key=store.object_key("files/bad.csv"), Body=frame.body[:-8] + b"\0" * 8,
                            ContentType=frame.content_type, Metadata=frame.metadata)
    with pytest.raises(ConfigError, match="files/bad.csv"):
        store.get_bytes("files/bad.csv")
    with pytest.raises(ConfigError, match="files/bad.csv"):
        store.fetch("files/bad.csv")
    assert not store.cache_path("files/bad.csv").exists()
    # a frame that holds more than its metadata states stops there, naming the object
    store.client.put_object(Bucket=s3_bucket, Key=store.object_key("files/long.csv"), Body=frame.body,
                            ContentType=frame.content_type, Metadata=frame.metadata | {"nmrstake-size": "100"})
    with pytest.raises(ConfigError, match="files/long.csv.*100"):
        store.fetch("files/long.csv")
    with pytest.raises(ConfigError, match="files/long.csv"):
        store.get_bytes("files/long.csv")
