"""``api.test``, ``auth.test`` and ``apps.connections.open`` (Socket Mode), and token revocation."""

from __future__ import annotations

from .core import ApiMethod, SlackCore, SlackError
from .models import JSONDict


class AuthApi(SlackCore):
    def _auth_methods(self) -> dict[str, ApiMethod]:
        return {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "apps.connections.open": self._apps_connections_open,
        }

    def revoke(self, token: str | None = None) -> None:
        """Revoke a token (default: the bot token): calls then answer ``token_revoked``."""
        self.revoked_tokens.add(token or self.bot_token)

    def _api_test(self, params: JSONDict) -> JSONDict:
        if "error" in params:
            raise SlackError(str(params["error"]))
        return {"args": {k: v for k, v in params.items() if isinstance(v, str)}}

    def _auth_test(self, params: JSONDict) -> JSONDict:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _apps_connections_open(self, params: JSONDict) -> JSONDict:
        if not self.socket_mode_url:
            raise SlackError("internal_error")
        return {"url": self.socket_mode_url}
