from app.errors import AppError, Conflict, NotAuthenticated, NotFound, TooManyRequests, Unprocessable


class PhoneTaken(Conflict):
    code = "phone_taken"
    title = "Phone number already registered"


class InvalidCredentials(NotAuthenticated):
    code = "invalid_credentials"
    title = "Invalid phone or password"


class InvalidRefreshToken(NotAuthenticated):
    code = "invalid_refresh_token"
    title = "Invalid refresh token"


class RefreshTokenReused(InvalidRefreshToken):
    # The family revocation must be committed even though the request fails.
    commit_session = True


class TooManyAttempts(TooManyRequests):
    code = "too_many_attempts"
    title = "Too many attempts"


class AddressNotFound(NotFound):
    code = "address_not_found"
    title = "Address not found"


class TooManyAddresses(Conflict):
    code = "too_many_addresses"
    title = "Too many addresses"


class AddressNeedsCorrection(Conflict):
    code = "address_needs_correction"
    title = "Address needs correction"


class WeakPassword(Unprocessable):
    """A new password the one rule refuses (app.users.passwords); `errors` names the field, like a
    validation error."""

    code = "weak_password"
    title = "Password too weak"

    def __init__(self, message: str, *, field: str = "password"):
        super().__init__(
            "Choose another password: " + message,
            errors=[{"field": field, "loc": [field], "message": message, "type": "weak_password"}],
        )
        self.message = message
        self.field = field


class WrongPassword(Unprocessable):
    # 422, not 401: the caller is authenticated; only the old password they typed is wrong.
    code = "wrong_password"
    title = "The current password is wrong"


class UserNotFound(NotFound):
    code = "user_not_found"
    title = "User not found"


class CannotChangeOwnAccount(Conflict):
    code = "cannot_change_own_account"
    title = "Administrators cannot demote or disable themselves"


class LastAdmin(Conflict):
    code = "last_admin"
    title = "The last active administrator cannot be removed"


__all__ = [
    "AppError",
    "PhoneTaken",
    "InvalidCredentials",
    "InvalidRefreshToken",
    "RefreshTokenReused",
    "TooManyAttempts",
    "AddressNotFound",
    "TooManyAddresses",
    "AddressNeedsCorrection",
    "WeakPassword",
    "WrongPassword",
    "UserNotFound",
    "CannotChangeOwnAccount",
    "LastAdmin",
]
