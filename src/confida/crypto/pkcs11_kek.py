"""KEK held in a PKCS#11 token (an HSM; SoftHSM2 in tests).

The AES key is generated inside the token as non-extractable; wrapping is AES-GCM performed by
the token, so the KEK never exists in this process's memory.
"""

from __future__ import annotations

import os
from typing import Any

from confida.config import PKCS11Settings
from confida.errors import BadInput, KeyUnavailable

_NONCE = 12


class _NoSuchKey(KeyUnavailable):
    pass


class Pkcs11Kek:
    name = "pkcs11"

    def __init__(self, settings: PKCS11Settings) -> None:
        try:
            import pkcs11  # noqa: F401
        except ImportError:
            raise BadInput(
                "the pkcs11 KEK provider needs python-pkcs11: pip install 'confida[pkcs11]'"
            ) from None
        self.settings = settings
        self._session: Any = None

    def _open(self) -> Any:
        if self._session is None:
            import pkcs11

            pin = os.environ.get(self.settings.pin_env)
            if not pin:
                raise KeyUnavailable(f"set the HSM user PIN in ${self.settings.pin_env}")
            try:
                lib = pkcs11.lib(self.settings.module)
                token = lib.get_token(token_label=self.settings.token_label)
                try:
                    self._session = token.open(user_pin=pin, rw=True)
                except pkcs11.UserAlreadyLoggedIn:
                    # PKCS#11 logins are per process: another provider here already logged in.
                    self._session = token.open(rw=True)
            except (pkcs11.PKCS11Error, RuntimeError, OSError) as exc:
                raise KeyUnavailable(
                    f"cannot open PKCS#11 token {self.settings.token_label!r}: "
                    f"{type(exc).__name__}"
                ) from None
        return self._session

    def _label(self, version: str) -> str:
        return f"{self.settings.key_label_prefix}-{version}"

    def _key(self, version: str) -> Any:
        import pkcs11

        try:
            return self._open().get_key(
                object_class=pkcs11.ObjectClass.SECRET_KEY, label=self._label(version)
            )
        except pkcs11.NoSuchKey:
            raise _NoSuchKey(f"no key {self._label(version)!r} in the token") from None

    def has_version(self, version: str) -> bool:
        import pkcs11

        try:
            self._key(version)
            return True
        except _NoSuchKey:
            return False
        except pkcs11.MultipleObjectsReturned:
            return True

    def create_version(self, version: str) -> None:
        import pkcs11

        if self.has_version(version):
            raise KeyUnavailable(f"{self._label(version)!r} already exists in the token")
        self._open().generate_key(
            pkcs11.KeyType.AES, 256, label=self._label(version), store=True,
            template={pkcs11.Attribute.EXTRACTABLE: False, pkcs11.Attribute.SENSITIVE: True},
        )

    def destroy_version(self, version: str) -> bool:
        """Destroy the token object (C_DestroyObject): the HSM no longer holds this KEK."""
        import pkcs11

        destroyed = False
        while True:
            try:
                self._key(version).destroy()
            except _NoSuchKey:
                return destroyed
            except pkcs11.MultipleObjectsReturned:
                for obj in self._open().get_objects(
                    {pkcs11.Attribute.CLASS: pkcs11.ObjectClass.SECRET_KEY,
                     pkcs11.Attribute.LABEL: self._label(version)}
                ):
                    obj.destroy()
            destroyed = True

    def wrap(self, version: str, key: bytes, aad: bytes) -> bytes:
        import pkcs11
        from pkcs11.mechanisms import Mechanism

        nonce = os.urandom(_NONCE)
        params = pkcs11.GCMParams(nonce, aad, 128)
        ct = self._key(version).encrypt(key, mechanism=Mechanism.AES_GCM, mechanism_param=params)
        return nonce + bytes(ct)

    def unwrap(self, version: str, wrapped: bytes, aad: bytes) -> bytes:
        import pkcs11
        from pkcs11.mechanisms import Mechanism

        params = pkcs11.GCMParams(wrapped[:_NONCE], aad, 128)
        try:
            return bytes(
                self._key(version).decrypt(
                    wrapped[_NONCE:], mechanism=Mechanism.AES_GCM, mechanism_param=params
                )
            )
        except pkcs11.PKCS11Error:
            raise KeyUnavailable(
                "wrapped data key failed authentication in the HSM: wrong key or altered data"
            ) from None
