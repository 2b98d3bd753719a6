from app.errors import AppError, Conflict, NotAuthenticated, NotFound, TooManyRequests


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
]
