"""Supabase Auth (GoTrue) as the studio's sign-in, when a project is configured.

With ``AURA_SUPABASE_URL`` and ``AURA_SUPABASE_ANON_KEY`` set, ``/api/auth`` signs people
up and in through the project's Auth REST API instead of local accounts, and hands its
session on unchanged: the access token is the project's JWT, which the API then checks
against the project's JWKS (core/jwks.py). Supabase keeps the passwords and rotates the
refresh tokens.

Routes used (all with the ``apikey`` header):

- ``POST /auth/v1/signup`` ``{email, password}``: the new user and, when the project
  does not ask for email confirmation, a session;
- ``POST /auth/v1/token?grant_type=password`` ``{email, password}``: a session;
- ``POST /auth/v1/token?grant_type=refresh_token`` ``{refresh_token}``: the next session;
- ``POST /auth/v1/logout`` with the session's access token as bearer: ends it.

Its refusals are told in our words: a wrong email or password is the same 401 as with
local accounts, a taken email the same 409, a weak password a 422 with Supabase's reason,
429 and 5xx a transient error.
"""

from __future__ import annotations

from typing import Any

import httpx

from core.errors import AuthError, InputError, TransientError, is_transient_status
from core.settings import Settings

AUTH_PATH = "/auth/v1"
TIMEOUT_S = 10.0


class SupabaseEmailTakenError(InputError):
    """Supabase already has a user with this email (409)."""

    http_status = 409


class ConfirmEmailError(InputError):
    """The project asks new users to confirm their email before they sign in (403 until
    then; the message says to look for Supabase's email)."""

    http_status = 403


class SupabaseAuth:
    """The Auth REST API of one Supabase project."""

    def __init__(self, project_url: str, anon_key: str, *,
                 transport: httpx.AsyncBaseTransport | None = None):
        self.base_url = project_url.rstrip("/") + AUTH_PATH
        self._anon_key = anon_key
        self._transport = transport

    async def sign_up(self, email: str, password: str) -> dict[str, Any]:
        """A new user's session.

        Raises:
            SupabaseEmailTakenError, InputError (a weak or invalid password or email),
            ConfirmEmailError (no session until the email is confirmed), TransientError.
        """
        answer = await self._post("/signup", {"email": email, "password": password})
        if "access_token" not in answer:
            raise ConfirmEmailError(f"check {email}: Supabase sent a link to confirm the "
                                    "address; sign in once it is confirmed")
        return answer

    async def sign_in(self, email: str, password: str) -> dict[str, Any]:
        """A session for this email and password (AuthError when either is wrong)."""
        return await self._post("/token?grant_type=password",
                                {"email": email, "password": password})

    async def refresh(self, refresh_token: str) -> dict[str, Any]:
        """The next session; Supabase spends the refresh token (AuthError if it was)."""
        return await self._post("/token?grant_type=refresh_token",
                                {"refresh_token": refresh_token})

    async def sign_out(self, access_token: str) -> None:
        """End the session the access token belongs to (its refresh tokens stop working)."""
        await self._post("/logout", {}, bearer=access_token)

    async def _post(self, path: str, body: dict[str, Any], *,
                    bearer: str | None = None) -> dict[str, Any]:
        headers = {"apikey": self._anon_key}
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        try:
            async with httpx.AsyncClient(base_url=self.base_url, transport=self._transport,
                                         timeout=TIMEOUT_S) as client:
                response = await client.post(path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise TransientError(f"could not reach Supabase Auth: {exc}",
                                 provider="supabase") from None
        if response.status_code == 204:
            return {}
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if response.is_success:
            return answer
        raise _refusal(response.status_code, answer)


def _refusal(status_code: int, answer: dict[str, Any]) -> Exception:
    """Supabase's error (``error_code`` and ``msg``, or OAuth's ``error`` and
    ``error_description`` on older projects) in our terms."""
    code = str(answer.get("error_code") or answer.get("error") or "")
    message = str(answer.get("msg") or answer.get("error_description")
                  or answer.get("message") or f"status {status_code}")
    if status_code == 429 or (is_transient_status(status_code) and status_code != 409):
        return TransientError(f"Supabase Auth is busy: {message}", provider="supabase",
                              status_code=status_code)
    if code in ("user_already_exists", "email_exists"):
        return SupabaseEmailTakenError("there is already an account with this email; "
                                       "sign in instead")
    if code in ("invalid_credentials", "invalid_grant") and "refresh" not in message.lower():
        return AuthError("the email or password is wrong")
    if code.startswith("refresh_token") or "refresh token" in message.lower() \
            or code == "session_not_found":
        return AuthError("this session was signed out; sign in again")
    if code in ("email_not_confirmed",):
        return AuthError("confirm your email first: Supabase sent you a link")
    if status_code in (400, 422):
        return InputError(f"Supabase refused: {message}")
    return AuthError(f"Supabase refused: {message}")


def supabase_auth(settings: Settings) -> SupabaseAuth | None:
    """Supabase Auth for the configured project, or None for local accounts."""
    if not settings.supabase_url or settings.supabase_anon_key is None:
        return None
    return SupabaseAuth(settings.supabase_url, settings.supabase_anon_key.get_secret_value())
