"""nmrstake.wallet: v3 keystore wallets."""

from __future__ import annotations

import json
import os
import stat
import traceback
from unittest import mock

import eth_keyfile.keyfile
import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nmrstake import wallet
from nmrstake.errors import InputError, NmrstakeError
from nmrstake.wallet import Keystore, WalletError

APE_MNEMONIC = "test test test test test test test test test test test junk"
APE_ACCOUNT_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
APE_ACCOUNT_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
# Anvil's well-known account #1 (public test key).
KEY_1 = "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@pytest.fixture
def ks(tmp_path) -> Keystore:
    # light scrypt for speed; the parameters travel in the file
    return Keystore(tmp_path / "wallets", kdf="scrypt", iterations=16)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_create_list_address_load_round_trip(ks):
    assert ks.list() == []
    addr = ks.create("alice", "s3cret")
    assert addr.startswith("0x") and len(addr) == 42 and addr != addr.lower()
    bob = ks.import_key("bob-2", KEY_1, "pw")
    assert ks.list() == [("alice", addr), ("bob-2", bob)]
    assert ks.address("alice") == addr
    assert ks.exists("alice") and not ks.exists("carol")
    account = ks.load("alice", "s3cret")
    assert account.address == addr
    assert ks.path("alice") == ks.directory / "alice.json"
    # the account signs
    signed = account.sign_message(encode_defunct(text="round 1"))
    assert Account.recover_message(encode_defunct(text="round 1"),
                                   signature=signed.signature) == addr
    # no temporary files left behind
    assert sorted(os.listdir(ks.directory)) == ["alice.json", "bob-2.json"]


def test_two_created_wallets_differ(ks):
    assert ks.create("a", "pw") != ks.create("b", "pw")


@pytest.mark.parametrize("key", [KEY_1, "0x" + KEY_1, "0X" + KEY_1.upper(), f"  {KEY_1}\n",
                                 bytes.fromhex(KEY_1)])
def test_import_key(ks, key):
    assert ks.import_key("k", key, "pw") == APE_ACCOUNT_1
    assert ks.load("k", "pw").key.hex().removeprefix("0x") == KEY_1


def test_import_mnemonic_ape_test_accounts(ks):
    assert ks.import_mnemonic("ape0", APE_MNEMONIC, "pw") == APE_ACCOUNT_0
    assert ks.import_mnemonic("ape1", "  " + APE_MNEMONIC.replace(" ", "  \n") + " ", "pw",
                              account_index=1) == APE_ACCOUNT_1
    assert ks.load("ape0", "pw").address == APE_ACCOUNT_0


def test_wrong_passphrase(ks):
    ks.create("alice", "right")
    with pytest.raises(WalletError, match="^wrong passphrase for wallet 'alice'$") as info:
        ks.load("alice", "wrong")
    assert isinstance(info.value, NmrstakeError)
    assert info.value.__cause__ is None


def test_missing_wallet(ks):
    with pytest.raises(WalletError, match="no wallet 'nobody'"):
        ks.load("nobody", "pw")
    with pytest.raises(WalletError, match="no wallet 'nobody'"):
        ks.address("nobody")


def test_never_overwrites(ks):
    ks.create("alice", "pw")
    before = ks.path("alice").read_bytes()
    for action in (lambda: ks.create("alice", "pw"),
                   lambda: ks.import_key("alice", KEY_1, "pw"),
                   lambda: ks.import_mnemonic("alice", APE_MNEMONIC, "pw")):
        with pytest.raises(WalletError, match="alice.json exists already; refusing to overwrite"):
            action()
    assert ks.path("alice").read_bytes() == before


def test_never_overwrites_on_a_race(ks, tmp_path):
    # the file appears between the check and the write: the hard link refuses
    ks.directory.mkdir(mode=0o700)
    target = ks.directory / "x.json"
    target.write_text("theirs")
    with pytest.raises(WalletError, match="refusing to overwrite"):
        wallet._write_new_private_file(target, b"mine")
    assert target.read_text() == "theirs"
    assert os.listdir(ks.directory) == ["x.json"]


def test_file_and_dir_modes(ks):
    old = os.umask(0)  # even with a permissive umask
    try:
        ks.create("alice", "pw")
    finally:
        os.umask(old)
    assert _mode(ks.directory) == 0o700
    assert _mode(ks.path("alice")) == 0o600


@pytest.mark.parametrize("name", ["", "a/b", "../x", "x" * 65, "a.b", "ä", "a b", None, 3])
def test_invalid_names(ks, name):
    with pytest.raises(InputError, match="invalid wallet name"):
        ks.create(name, "pw")
    assert not ks.directory.exists()


def test_valid_name_edges(ks):
    ks.create("x" * 64, "pw")
    ks.create("A-b_9", "pw")
    assert [n for n, _ in ks.list()] == ["A-b_9", "x" * 64]


@pytest.mark.parametrize("key", [
    KEY_1[:-1],                         # 63 digits
    KEY_1[:-1] + "g",                   # not hex
    "0x" + KEY_1 + "00",                # too long
    "0" * 64,                           # zero
    f"{SECP256K1_N:064x}",              # out of range
])
def test_invalid_key_is_not_echoed(ks, key):
    with pytest.raises(InputError, match="invalid private key") as info:
        ks.import_key("k", key, "pw")
    shown = "".join(traceback.format_exception(info.value))  # message and any chained error
    assert key.removeprefix("0x")[:16] not in shown
    assert not ks.exists("k")


def test_invalid_mnemonic_is_not_echoed(ks):
    bad = " ".join(["abandon"] * 12)  # valid words, bad checksum
    with pytest.raises(InputError, match="invalid mnemonic") as info:
        ks.import_mnemonic("m", bad, "pw")
    assert "abandon" not in "".join(traceback.format_exception(info.value))
    with pytest.raises(InputError, match="invalid mnemonic"):
        ks.import_mnemonic("m", "correct horse battery staple", "pw")
    with pytest.raises(InputError, match="account index"):
        ks.import_mnemonic("m", APE_MNEMONIC, "pw", account_index=-1)
    assert not ks.exists("m")


def test_empty_passphrase_refused(ks):
    with pytest.raises(InputError, match="passphrase"):
        ks.create("alice", "")


def test_keystore_is_standard_v3_json(ks):
    ks.import_key("k", KEY_1, "pw")
    data = json.loads(ks.path("k").read_text())
    assert data["version"] == 3
    assert data["address"].lower() == APE_ACCOUNT_1[2:].lower()  # no 0x, as eth-account writes it
    assert data["crypto"]["kdf"] == "scrypt" and data["crypto"]["kdfparams"]["n"] == 16
    assert Account.decrypt(data, "pw").hex().removeprefix("0x") == KEY_1


def test_default_kdf_is_standard_strength(tmp_path):
    ks = Keystore(tmp_path)
    ks.create("strong", "pw")
    params = json.loads(ks.path("strong").read_text())["crypto"]
    assert params["kdf"] == "scrypt" and params["kdfparams"]["n"] == 2**18


def test_pbkdf2_kdf(tmp_path):
    ks = Keystore(tmp_path, kdf="pbkdf2", iterations=10)
    ks.import_key("k", KEY_1, "pw")
    assert json.loads(ks.path("k").read_text())["crypto"]["kdf"] == "pbkdf2"
    assert ks.load("k", "pw").address == APE_ACCOUNT_1
    with pytest.raises(InputError, match="kdf"):
        Keystore(tmp_path, kdf="md5")


def test_default_directory(monkeypatch, tmp_path):
    monkeypatch.setenv("NMRSTAKE_HOME", str(tmp_path / "home"))
    assert Keystore().directory == tmp_path / "home" / "wallets"
    assert wallet.default_wallet_dir() == tmp_path / "home" / "wallets"
    monkeypatch.delenv("NMRSTAKE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert Keystore().directory == tmp_path / "user" / ".nmrstake" / "wallets"


def test_passphrase_from_env(monkeypatch):
    monkeypatch.delenv("NMRSTAKE_PASSPHRASE", raising=False)
    monkeypatch.delenv("NMRSTAKE_PASSPHRASE_MY_WALLET", raising=False)
    assert wallet.passphrase_from_env("my-wallet") is None
    monkeypatch.setenv("NMRSTAKE_PASSPHRASE", "")
    assert wallet.passphrase_from_env("my-wallet") is None
    monkeypatch.setenv("NMRSTAKE_PASSPHRASE", "general")
    assert wallet.passphrase_from_env("my-wallet") == "general"
    assert wallet.passphrase_from_env() == "general"
    monkeypatch.setenv("NMRSTAKE_PASSPHRASE_MY_WALLET", "specific")
    assert wallet.passphrase_from_env("my-wallet") == "specific"


def test_list_skips_foreign_and_broken_files(ks):
    ks.create("good", "pw")
    (ks.directory / "broken.json").write_text("{not json")
    (ks.directory / "no.dots.json").write_text("{}")
    (ks.directory / "notes.txt").write_text("hi")
    assert [n for n, _ in ks.list()] == ["good"]
    with pytest.raises(WalletError, match="not valid JSON"):
        ks.address("broken")


def test_export_to_ape(ks, tmp_path):
    ks.import_mnemonic("dev", APE_MNEMONIC, "pw")
    ape_folder = tmp_path / "ape"
    target = ks.export_to_ape("dev", ape_folder)
    assert target == ape_folder / "accounts" / "dev.json"
    assert target.read_bytes() == ks.path("dev").read_bytes()
    assert _mode(target) == 0o600
    key = Account.decrypt(json.loads(target.read_text()), "pw")
    assert Account.from_key(key).address == APE_ACCOUNT_0
    # ape's own keyfile account reads it
    from ape_accounts.accounts import KeyfileAccount

    ape_account = KeyfileAccount(keyfile_path=target)
    assert ape_account.alias == "dev" and ape_account.address == APE_ACCOUNT_0

    with pytest.raises(WalletError, match="dev.json exists already; refusing to overwrite"):
        ks.export_to_ape("dev", ape_folder)
    assert ks.export_to_ape("dev", ape_folder, alias="dev2").name == "dev2.json"
    with pytest.raises(InputError, match="invalid ape alias"):
        ks.export_to_ape("dev", ape_folder, alias="a/b")
    with pytest.raises(WalletError, match="no wallet 'nope'"):
        ks.export_to_ape("nope", ape_folder)


def test_export_to_ape_default_folder(ks, monkeypatch, tmp_path):
    ks.import_key("k", KEY_1, "pw")
    monkeypatch.setenv("APE_DATA_FOLDER", str(tmp_path / "apedata"))
    assert ks.export_to_ape("k") == tmp_path / "apedata" / "accounts" / "k.json"
    monkeypatch.delenv("APE_DATA_FOLDER")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert ks.export_to_ape("k") == tmp_path / "user" / ".ape" / "accounts" / "k.json"


def test_damaged_keystore(ks):
    ks.import_key("k", KEY_1, "pw")
    data = json.loads(ks.path("k").read_text())
    data["address"] = APE_ACCOUNT_0[2:].lower()  # lies about its address
    ks.path("k").chmod(0o600)
    ks.path("k").write_text(json.dumps(data))
    with pytest.raises(WalletError, match="does not match its address"):
        ks.load("k", "pw")
    ks.path("k").write_text(json.dumps({"hello": 1}))
    with pytest.raises(WalletError, match="not a v3 keystore"):
        ks.load("k", "pw")


# load_aside: decrypting on a second core while the caller goes on.

ASIDE = """
import json, sys, threading
from pathlib import Path
imported_in_thread = []
sys.addaudithook(lambda event, args: event == "import" and threading.current_thread().name.startswith("nmrstake-wallet")
                 and imported_in_thread.append(args[0]))
from nmrstake.wallet import Keystore
opening = Keystore(Path(sys.argv[1])).load_aside("w", "pw")
print(json.dumps({"address": opening.result().address, "imported_in_thread": imported_in_thread}))
"""


@pytest.mark.parametrize("kdf", ["scrypt", "pbkdf2"])
def test_load_aside__decrypts_in_a_thread_that_imports_nothing(tmp_path, kdf):
    # A fresh interpreter, where nothing of eth-account's decryption is imported yet: the thread
    # must find it all imported (two threads importing at once can deadlock on module locks).
    import subprocess
    import sys

    address = Keystore(tmp_path, kdf=kdf, iterations=16).import_key("w", KEY_1, "pw")
    out = subprocess.run([sys.executable, "-c", ASIDE, str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"address": address, "imported_in_thread": []}


def test_load_aside__a_missing_wallet_fails_at_once_a_wrong_passphrase_in_the_result(ks):
    with pytest.raises(WalletError, match="no wallet 'nobody'"):
        ks.load_aside("nobody", "pw")
    ks.import_key("w", KEY_1, "pw")
    opening = ks.load_aside("w", "not pw")
    with pytest.raises(WalletError, match="wrong passphrase for wallet 'w'"):
        opening.result()
    assert ks.load_aside("w", "pw").result().address == Account.from_key(KEY_1).address


# decrypt_keystore: the v3 decryption load_aside starts before eth-account is imported.

@settings(max_examples=25, deadline=None)
@given(key=st.integers(min_value=1, max_value=SECP256K1_N - 1), passphrase=st.text(min_size=1, max_size=40),
       kdf=st.sampled_from(["scrypt", "pbkdf2"]),
       iv=st.binary(min_size=16, max_size=16).map(lambda b: bytes(b[0] % 3) + b[b[0] % 3:]))
@example(key=1489, passphrase="\x14", kdf="scrypt", iv=b"\x00" + b"\x5a" * 15)
@example(key=1, passphrase="p", kdf="pbkdf2", iv=b"\x00" * 16)
def test_decrypt_keystore__equals_eth_account_decrypt(key, passphrase, kdf, iv):
    # eth-keyfile draws the salt, then the IV, with Random.get_random_bytes and writes the IV with
    # its leading zero bytes dropped: the IV is drawn here, so that short ones are tried every run.
    draws = iter([os.urandom(16), iv])
    with mock.patch.object(eth_keyfile.keyfile.Random, "get_random_bytes", side_effect=lambda n: next(draws)):
        keystore = Account.encrypt(key.to_bytes(32, "big"), passphrase, kdf=kdf, iterations=2 if kdf == "scrypt" else 3)
    assert wallet.decrypt_keystore(keystore, passphrase) == bytes(Account.decrypt(keystore, passphrase))
    with pytest.raises(ValueError, match="MAC mismatch"):
        wallet.decrypt_keystore(keystore, passphrase + "x")


@pytest.mark.parametrize("damage", ["ciphertext", "kdfparams", "iv"])
def test_load_aside__a_damaged_standard_keystore__is_one_wallet_error(ks, damage):
    ks.import_key("w", KEY_1, "pw")
    data = json.loads(ks.path("w").read_text())
    if damage == "ciphertext":
        data["crypto"]["ciphertext"] = "zz"
    elif damage == "kdfparams":
        del data["crypto"]["kdfparams"]["salt"]
    else:
        data["crypto"]["cipherparams"]["iv"] = "not hex"
    ks.path("w").write_text(json.dumps(data))
    with pytest.raises(WalletError, match="damaged keystore"):
        ks.load_aside("w", "pw").result()
