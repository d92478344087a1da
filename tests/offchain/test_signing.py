"""EIP-712 upload authorisations and delivery receipts (off-chain): each signature recovers its
signer only for exactly the fields, chain and tournament it was made for."""

from __future__ import annotations

import dataclasses

import pytest
from eth_account import Account
from hypothesis import given, settings
from hypothesis import strategies as st

from nmrstake.chain.signers import key_account, wallet_account
from nmrstake.errors import InputError
from nmrstake.signing import DeliveryReceipt, Domain, UploadAuthorisation
from nmrstake.wallet import Keystore

KEY = "0x" + "5a" * 32
ADDRESS = Account.from_key(KEY).address
STAKER = key_account(bytes.fromhex(KEY[2:]))  # an ape account: everything signs through one
DOMAIN = Domain(31337, "0x" + "12" * 20)
FILE = b"\x07" * 32


def upload(**changes) -> UploadAuthorisation:
    base = UploadAuthorisation(ADDRESS, 1001, "model_a", FILE, 42, 1_900_000_000)
    return dataclasses.replace(base, **changes)


def test_upload__signed_by_the_staker__recovers_the_staker():
    auth = upload()
    assert auth.signer(DOMAIN, auth.sign(DOMAIN, STAKER)) == ADDRESS


@pytest.mark.parametrize("change", [
    {"round_id": 1002}, {"model": "model_b"}, {"file_hash": b"\x08" * 32}, {"nonce": 43}, {"expiry": 1_900_000_001},
])
def test_upload__signature_for_other_fields__recovers_someone_else(change):
    signature = upload().sign(DOMAIN, STAKER)
    assert upload(**change).signer(DOMAIN, signature) != ADDRESS


@pytest.mark.parametrize("domain", [Domain(1, DOMAIN.tournament), Domain(31337, "0x" + "13" * 20)])
def test_upload__signature_for_another_chain_or_tournament__recovers_someone_else(domain):
    assert upload().signer(domain, upload().sign(DOMAIN, STAKER)) != ADDRESS


@pytest.mark.parametrize("signature,needle", [("0x1234", "65 bytes"), ("zz", "not hex"), ("0x" + "00" * 65, "signature")])
def test_upload__malformed_signature__is_an_input_error_naming_it(signature, needle):
    with pytest.raises(InputError) as err:
        upload().signer(DOMAIN, signature)
    assert needle in str(err.value) and "signature" in str(err.value)


def test_upload__digests_differ_by_nonce__so_each_signature_is_single_use():
    assert upload(nonce=1).digest(DOMAIN) != upload(nonce=2).digest(DOMAIN)
    assert upload().digest(DOMAIN) == upload().digest(DOMAIN)


def test_receipt__round_trips_through_json_and_recovers_the_service():
    service_key = "0x" + "6b" * 32
    receipt = DeliveryReceipt(ADDRESS, 1001, "model_a", FILE, 1_800_000_000).signed(
        DOMAIN, key_account(bytes.fromhex(service_key[2:])))
    again = DeliveryReceipt.from_json(receipt.to_json())
    assert again == receipt and again.signer(DOMAIN) == Account.from_key(service_key).address
    forged = dataclasses.replace(again, received_at=again.received_at - 1)  # "it arrived earlier"
    assert forged.signer(DOMAIN) != Account.from_key(service_key).address


def test_upload__signed_through_a_wallet_account__recovers_the_wallet(tmp_path):
    """The CLI's path: an nmrstake wallet opened as an ape account (decrypted once with its
    passphrase) signs the upload, and the service recovers the wallet's address from it."""
    store = Keystore(tmp_path / "wallets", kdf="scrypt", iterations=2**4)
    address = store.import_key("me", KEY, "secret")
    account = wallet_account("me", "secret", store=store)
    auth = UploadAuthorisation.new(address, 1001, "model_a", FILE, now=1_800_000_000)
    assert account.address == address
    assert auth.signer(DOMAIN, auth.sign(DOMAIN, account)) == address == ADDRESS


def test_wallet_account__wrong_passphrase__is_a_wallet_error_naming_the_wallet(tmp_path):
    from nmrstake.wallet import WalletError

    store = Keystore(tmp_path / "wallets", kdf="scrypt", iterations=2**4)
    store.import_key("me", KEY, "secret")
    with pytest.raises(WalletError, match="wrong passphrase for wallet 'me'"):
        wallet_account("me", "not the passphrase", store=store)


def test_receipt__malformed_json__names_the_receipt():
    with pytest.raises(InputError, match="receipt"):
        DeliveryReceipt.from_json({"staker": ADDRESS, "round_id": "x"})


@settings(max_examples=30, deadline=None)
@given(round_id=st.integers(0, 2**256 - 1), nonce=st.integers(0, 2**256 - 1), expiry=st.integers(0, 2**256 - 1),
       file_hash=st.binary(min_size=32, max_size=32), model=st.from_regex(r"[a-z0-9_]{1,32}", fullmatch=True))
def test_upload__any_fields__sign_then_recover_is_the_signer(round_id, nonce, expiry, file_hash, model):
    auth = UploadAuthorisation(ADDRESS, round_id, model, file_hash, nonce, expiry)
    assert auth.signer(DOMAIN, auth.sign(DOMAIN, STAKER)) == ADDRESS
