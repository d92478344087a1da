"""Encrypted wallets: Web3 Secret Storage (v3 keystore JSON) files in a directory.

The files are exactly what ``eth_account.Account.encrypt`` produces (with the ``address`` field),
so any wallet that reads v3 keystores can use them, and so can ape: :meth:`Keystore.export_to_ape`
copies one into ape's ``<data folder>/accounts/<alias>.json`` for ``ape ... --account alias``.

Layout: ``<dir>/<name>.json``, the directory ``0700`` and each file ``0600``. The default directory
is ``$NMRSTAKE_HOME/wallets``, with ``NMRSTAKE_HOME`` defaulting to ``~/.nmrstake``.

A wallet file is never overwritten: it is written to a fresh temporary file (``O_CREAT|O_EXCL``,
mode ``0600``), fsynced, then hard-linked to its final name, which fails if that name exists (on
file systems without hard links, after a check, ``os.replace``). Secrets (private keys,
mnemonics, passphrases) never appear in an error message.

Key derivation: the default is eth-account's standard scrypt (n = 2**18, ~0.5 s and 256 MiB per
encryption or decryption). Tests can pass ``Keystore(dir, kdf="scrypt", iterations=2**4)``; the
parameters are stored in the file, so decrypting uses whatever it was written with.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from nmrstake.errors import InputError, NmrstakeError
from nmrstake.fsutil import fsync_dir
from nmrstake.hashing import checksum_address

if TYPE_CHECKING:
    from eth_account.signers.local import LocalAccount


def _account() -> Any:
    """eth-account's `Account`, imported on first use (about half a second): reading a wallet's
    address, as `status --api` and the faucet do, needs none of it."""
    from eth_account import Account

    return Account

__all__ = [
    "WalletError",
    "Keystore",
    "nmrstake_home",
    "default_wallet_dir",
    "ape_accounts_dir",
    "passphrase_from_env",
    "validate_name",
    "DEFAULT_MNEMONIC_PATH",
    "PASSPHRASE_ENV",
]

NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
#: BIP-44 path of Ethereum account ``{index}`` (MetaMask's, ape's and Foundry's default).
DEFAULT_MNEMONIC_PATH = "m/44'/60'/0'/0/{index}"
#: Environment variable holding a passphrase for automation.
PASSPHRASE_ENV = "NMRSTAKE_PASSPHRASE"
HOME_ENV = "NMRSTAKE_HOME"
# secp256k1 group order: a private key is an integer in 1 .. N-1.
_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class WalletError(NmrstakeError):
    """A wallet is missing, exists already, is unreadable, or its passphrase is wrong."""

    exit_code = 5


# --------------------------------------------------------------------------- decryption


def _standard_keystore(data: dict) -> bool:
    """A v3 keystore :func:`decrypt_keystore` reads: aes-128-ctr; scrypt, or pbkdf2 with hmac-sha256."""
    crypto = data.get("crypto") or data.get("Crypto") or {}
    kdf, params = crypto.get("kdf"), crypto.get("kdfparams") or {}
    return (data.get("version") == 3 and crypto.get("cipher") == "aes-128-ctr"
            and (kdf == "scrypt" or (kdf == "pbkdf2" and params.get("prf") == "hmac-sha256")))


def decrypt_keystore(data: dict, passphrase: str) -> bytes:
    """The private key in a standard v3 keystore (Web3 Secret Storage: the key derived by scrypt
    or pbkdf2, its MAC checked, the key deciphered with AES-128-CTR), as eth-keyfile computes it,
    on pycryptodome and hashlib alone: nothing here imports eth-account. ValueError("MAC
    mismatch") on a wrong passphrase, as eth-keyfile raises; KeyError or ValueError on a damaged
    file. Tests hold it equal to ``eth_account.Account.decrypt``."""
    import hashlib

    from Crypto.Cipher import AES
    from Crypto.Hash import keccak
    from Crypto.Protocol.KDF import scrypt

    crypto = data.get("crypto") or data["Crypto"]
    params = crypto["kdfparams"]
    secret = passphrase.encode()
    salt = bytes.fromhex(params["salt"])
    if crypto["kdf"] == "scrypt":
        derived = cast("bytes", scrypt(secret, salt, int(params["dklen"]), N=int(params["n"]),  # type: ignore[arg-type]
                                       r=int(params["r"]), p=int(params["p"])))
    else:
        derived = hashlib.pbkdf2_hmac("sha256", secret, salt, int(params["c"]), int(params["dklen"]))
    ciphertext = bytes.fromhex(crypto["ciphertext"])
    mac = keccak.new(digest_bits=256, data=derived[16:32] + ciphertext).digest()
    if not secrets.compare_digest(mac, bytes.fromhex(crypto["mac"])):
        raise ValueError("MAC mismatch")
    # The IV is a 128-bit counter. eth-keyfile writes it as a number with its leading zero bytes
    # dropped (one keystore in 256 has a 15-byte "iv"), so it is read as a number, as eth-keyfile
    # reads it, never as 16 bytes.
    iv = int(crypto["cipherparams"]["iv"], 16)
    if not 0 <= iv < 2**128:
        raise ValueError("iv is longer than 16 bytes")
    return AES.new(derived[:16], AES.MODE_CTR, nonce=b"", initial_value=iv).decrypt(ciphertext)


def _decrypt_standard(name: str, path: Path, data: dict, passphrase: str) -> bytes:
    try:
        return decrypt_keystore(data, passphrase)
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise WalletError(f"wrong passphrase for wallet '{name}'") from None
        raise WalletError(f"cannot decrypt wallet file {path}: damaged keystore") from None
    except (KeyError, TypeError, AttributeError):
        raise WalletError(f"cannot decrypt wallet file {path}: damaged keystore") from None


class KeyOpening:
    """A wallet being decrypted on a second core (:meth:`Keystore.load_aside`): its `address`
    (from the file) at once, its key from :meth:`result`, which waits for the decryption and
    raises its WalletError (a wrong passphrase)."""

    def __init__(self, address: str, path: Path, opening: Future[bytes] | Future[LocalAccount]) -> None:
        self.address, self._path, self._opening = address, path, opening
        self._account: LocalAccount | None = None

    def result(self) -> LocalAccount:
        if self._account is None:
            found = self._opening.result()
            if isinstance(found, bytes):
                account = _account().from_key(found)
                if account.address.lower() != self.address.lower():
                    raise WalletError(f"wallet file {self._path}: decrypted key does not match its address")
                found = account
            self._account = found
        return self._account


# --------------------------------------------------------------------------- locations


def nmrstake_home() -> Path:
    """``$NMRSTAKE_HOME`` if set (and not empty), else ``~/.nmrstake``."""
    home = os.environ.get(HOME_ENV)
    return Path(home).expanduser() if home else Path.home() / ".nmrstake"


def default_wallet_dir() -> Path:
    return nmrstake_home() / "wallets"


def ape_accounts_dir(ape_data_folder: str | os.PathLike | None = None) -> Path:
    """ape's keyfile accounts folder: ``<data folder>/accounts``; the data folder defaults, as in
    ape, to ``$APE_DATA_FOLDER`` or ``~/.ape``."""
    if ape_data_folder is None:
        env = os.environ.get("APE_DATA_FOLDER")
        ape_data_folder = Path(env) if env else Path.home() / ".ape"
    return Path(ape_data_folder).expanduser() / "accounts"


def validate_name(name: Any, what: str = "wallet name") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise InputError(f"invalid {what} {name!r}: use 1-64 letters, digits, '_' or '-'")
    return name


def passphrase_from_env(name: str | None = None) -> str | None:
    """The passphrase for automation, or None: ``NMRSTAKE_PASSPHRASE_<NAME>`` (the wallet name
    upper-cased, ``-`` as ``_``) if set, else ``NMRSTAKE_PASSPHRASE``. Empty values count as
    unset."""
    if name:
        specific = os.environ.get(f"{PASSPHRASE_ENV}_{name.upper().replace('-', '_')}")
        if specific:
            return specific
    return os.environ.get(PASSPHRASE_ENV) or None


# --------------------------------------------------------------------------- file helpers


def _ensure_private_dir(directory: Path) -> None:
    """Create ``directory`` with mode 0700 if missing (an existing one is left as it is)."""
    if directory.is_dir():
        return
    if directory.exists():
        raise WalletError(f"{directory} exists and is not a directory")
    try:
        directory.mkdir(mode=0o700, parents=True)
    except FileExistsError:  # created concurrently
        return
    except OSError as exc:
        raise WalletError(f"cannot create {directory}: {exc.strerror}") from None
    os.chmod(directory, 0o700)


def _write_new_private_file(path: Path, payload: bytes, what: str = "wallet") -> None:
    """Write ``payload`` to a new file ``path`` (mode 0600), atomically, never replacing one."""
    if path.exists():
        raise WalletError(f"{what} file {path} exists already; refusing to overwrite it")
    tmp = path.parent / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic and fails if `path` exists: never overwrites
        except FileExistsError:
            raise WalletError(
                f"{what} file {path} exists already; refusing to overwrite it") from None
        except OSError:  # no hard links on this file system: check-then-replace
            if path.exists():
                raise WalletError(
                    f"{what} file {path} exists already; refusing to overwrite it") from None
            os.replace(tmp, path)
        fsync_dir(path.parent)
    finally:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass


def _read_keystore(path: Path, name: str) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise WalletError(f"no wallet '{name}' (no file {path})") from None
    except OSError as exc:
        raise WalletError(f"cannot read wallet file {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError:
        raise WalletError(f"wallet file {path} is not valid JSON") from None
    if not isinstance(data, dict) or "crypto" not in data and "Crypto" not in data:
        raise WalletError(f"wallet file {path} is not a v3 keystore")
    return data


def _parse_private_key(private_key: Any) -> bytes:
    """32 bytes of a valid secp256k1 private key; the error never contains the key."""
    if isinstance(private_key, (bytes, bytearray)):
        raw = bytes(private_key)
    elif isinstance(private_key, str):
        text = private_key.strip()
        if text[:2] in ("0x", "0X"):
            text = text[2:]
        if len(text) != 64 or not re.fullmatch(r"[0-9a-fA-F]{64}", text):
            raise InputError("invalid private key: expected 32 bytes as 64 hex digits "
                             "(optionally with 0x)")
        raw = bytes.fromhex(text)
    else:
        raise InputError("invalid private key: expected a hex string")
    if len(raw) != 32:
        raise InputError("invalid private key: expected 32 bytes")
    if not 0 < int.from_bytes(raw, "big") < _SECP256K1_N:
        raise InputError("invalid private key: out of range for secp256k1")
    return raw


# --------------------------------------------------------------------------- keystore


class Keystore:
    """Wallets as v3 keystore files in ``directory`` (default :func:`default_wallet_dir`).

    ``kdf`` (``"scrypt"`` or ``"pbkdf2"``) and ``iterations`` are passed to
    ``eth_account.Account.encrypt`` when writing; None means eth-account's standard strength.
    """

    def __init__(self, directory: str | os.PathLike | None = None, *, kdf: str | None = None,
                 iterations: int | None = None) -> None:
        self.directory = Path(directory).expanduser() if directory is not None \
            else default_wallet_dir()
        if kdf not in (None, "scrypt", "pbkdf2"):
            raise InputError(f"invalid kdf {kdf!r}: use 'scrypt' or 'pbkdf2'")
        self.kdf = kdf
        self.iterations = iterations

    def __repr__(self) -> str:
        return f"Keystore({str(self.directory)!r})"

    # -- paths and reading

    def path(self, name: str) -> Path:
        return self.directory / f"{validate_name(name)}.json"

    def exists(self, name: str) -> bool:
        return self.path(name).is_file()

    def list(self) -> list[tuple[str, str]]:
        """``[(name, checksum address)]`` sorted by name; files that are not readable
        keystores with a valid name are skipped."""
        if not self.directory.is_dir():
            return []
        out = []
        for file in sorted(self.directory.glob("*.json")):
            if not NAME_RE.match(file.stem):
                continue
            try:
                out.append((file.stem, self.address(file.stem)))
            except WalletError:
                continue
        return out

    def address(self, name: str) -> str:
        """The wallet's checksum address, from the file's ``address`` field (no passphrase)."""
        path = self.path(name)
        data = _read_keystore(path, name)
        try:
            return checksum_address("0x" + str(data["address"]).removeprefix("0x"))
        except (KeyError, InputError):
            raise WalletError(f"wallet file {path} has no valid 'address' field") from None

    def load(self, name: str, passphrase: str) -> LocalAccount:
        """Decrypt the wallet; WalletError on a wrong passphrase."""
        path = self.path(name)
        return self._decrypt(name, path, _read_keystore(path, name), passphrase)

    def _decrypt(self, name: str, path: Path, data: dict, passphrase: str) -> LocalAccount:
        try:
            key = _account().decrypt(data, passphrase)
        except ValueError as exc:
            if "MAC mismatch" in str(exc):
                raise WalletError(f"wrong passphrase for wallet '{name}'") from None
            raise WalletError(f"cannot decrypt wallet file {path}: unsupported or damaged "
                              "keystore") from None
        except (KeyError, TypeError):
            raise WalletError(f"cannot decrypt wallet file {path}: damaged keystore") from None
        account = _account().from_key(key)
        stored = data.get("address")
        if stored and account.address.lower() != "0x" + str(stored).lower().removeprefix("0x"):
            raise WalletError(f"wallet file {path}: decrypted key does not match its address")
        return account

    def load_aside(self, name: str, passphrase: str) -> KeyOpening:
        """:meth:`load` in a thread of its own, for a caller with other work meanwhile: the
        keystore's scrypt (about 0.7 s at the standard strength) releases the GIL, so it runs on
        a second core. The result (or the WalletError) is the opening's :meth:`KeyOpening.result`.

        The file is read here, so a missing or broken one fails at once. A standard v3 keystore
        (aes-128-ctr; scrypt, or pbkdf2 with hmac-sha256, as every wallet writes) is decrypted
        by :func:`decrypt_keystore` at once, before eth-account is even imported (its import
        takes half a second, which the decryption used to wait for). Any other kind goes to
        eth-account, whose imports are made here first, in the calling thread, by decrypting a
        throwaway keystore of the same kind: two threads importing at once can deadlock on the
        module locks."""
        from concurrent.futures import ThreadPoolExecutor

        path = self.path(name)
        data = _read_keystore(path, name)
        if _standard_keystore(data):
            import hashlib  # noqa: F401 - imported here, not in the thread (see above)

            from Crypto.Cipher import AES, _mode_ctr  # noqa: F401 - AES.new imports its CTR mode lazily
            from Crypto.Hash import keccak  # noqa: F401
            from Crypto.Protocol.KDF import scrypt  # noqa: F401

            pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nmrstake-wallet")
            raw = pool.submit(_decrypt_standard, name, path, data, passphrase)
            pool.shutdown(wait=False)
            _account()  # eth-account, which makes the key an account, is imported meanwhile
            return KeyOpening(self.address(name), path, raw)
        crypto = data.get("crypto") or data.get("Crypto") or {}
        kdf: Literal["pbkdf2", "scrypt"] = "pbkdf2" if crypto.get("kdf") == "pbkdf2" else "scrypt"
        throwaway = _account().encrypt(b"\x01" * 32, "throwaway", kdf=kdf, iterations=2)
        _account().from_key(_account().decrypt(throwaway, "throwaway"))
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nmrstake-wallet")
        opening = pool.submit(self._decrypt, name, path, data, passphrase)  # the file is read once
        pool.shutdown(wait=False)  # the one task runs on; the pool takes no more
        return KeyOpening(self.address(name), path, opening)

    # -- writing

    def _store(self, name: str, key: bytes, passphrase: str) -> str:
        path = self.path(name)
        if not isinstance(passphrase, str) or passphrase == "":
            raise InputError("the passphrase must be a non-empty string")
        if path.exists():
            raise WalletError(f"wallet file {path} exists already; refusing to overwrite it")
        keystore = _account().encrypt(key, passphrase, kdf=cast(Literal["pbkdf2", "scrypt"] | None, self.kdf),
                                   iterations=self.iterations)
        _ensure_private_dir(self.directory)
        _write_new_private_file(path, (json.dumps(keystore, indent=2) + "\n").encode("utf-8"))
        return checksum_address("0x" + keystore["address"])

    def create(self, name: str, passphrase: str) -> str:
        """A new wallet with a random key; returns its checksum address."""
        validate_name(name)
        while True:
            key = secrets.token_bytes(32)
            if 0 < int.from_bytes(key, "big") < _SECP256K1_N:
                break
        return self._store(name, key, passphrase)

    def import_key(self, name: str, private_key_hex: str, passphrase: str) -> str:
        """A wallet from a private key (64 hex digits, ``0x`` optional); returns its address."""
        validate_name(name)
        return self._store(name, _parse_private_key(private_key_hex), passphrase)

    def import_mnemonic(self, name: str, mnemonic: str, passphrase: str,
                        account_index: int = 0) -> str:
        """A wallet from a BIP-39 mnemonic, account ``m/44'/60'/0'/0/{account_index}``."""
        validate_name(name)
        if isinstance(account_index, bool) or not isinstance(account_index, int) \
                or not 0 <= account_index < 2**31:
            raise InputError(f"invalid account index {account_index!r}: use 0 .. 2**31-1")
        if not isinstance(mnemonic, str):
            raise InputError("invalid mnemonic: expected a string of words")
        words = " ".join(mnemonic.split())
        _account().enable_unaudited_hdwallet_features()
        try:
            account = _account().from_mnemonic(
                words, account_path=DEFAULT_MNEMONIC_PATH.format(index=account_index))
        except Exception:  # eth-account's messages quote the words: never echo them
            raise InputError(f"invalid mnemonic ({len(words.split())} words): not a valid "
                             "BIP-39 phrase (check the words, their order and the checksum)"
                             ) from None
        return self._store(name, bytes(account.key), passphrase)

    # -- ape

    def export_to_ape(self, name: str, ape_data_folder: str | os.PathLike | None = None,
                      alias: str | None = None) -> Path:
        """Copy the wallet file to ape's ``<data folder>/accounts/<alias>.json`` (alias defaults
        to the wallet name), never overwriting; returns the new file's path."""
        alias = validate_name(alias if alias is not None else name, "ape alias")
        source = self.path(name)
        _read_keystore(source, name)  # exists and looks like a keystore
        payload = source.read_bytes()
        target_dir = ape_accounts_dir(ape_data_folder)
        target = target_dir / f"{alias}.json"
        if target.exists():
            raise WalletError(f"ape account file {target} exists already; refusing to "
                              "overwrite it")
        _ensure_private_dir(target_dir)
        _write_new_private_file(target, payload, what="ape account")
        return target
