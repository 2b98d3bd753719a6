from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from app.kit import regions
from app.kit.schemas import InputModel, OutputModel, reject_nulls

MobilePhone = Annotated[
    str,
    StringConstraints(pattern=r"^1[3-9]\d{9}$"),
    Field(description="Mainland China mobile number: 11 digits starting with 1", examples=["13800138000"]),
]
# Every password field, new or typed to log in: taken exactly as typed, never stripped (app.users.passwords).
Password = Annotated[
    str,
    StringConstraints(strip_whitespace=False, min_length=8, max_length=128),
    Field(examples=["correct-horse-2026"]),
]
# A password typed to prove who one is: any length up to the limit (accounts older than a rule still log in).
TypedPassword = Annotated[
    str,
    StringConstraints(strip_whitespace=False, min_length=1, max_length=128),
    Field(examples=["demo-pass-2026"]),
]
Nickname = Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)]
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
ProvinceName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=64),
    AfterValidator(regions.province_or_error),
    Field(
        description="One of the 34 provincial-level divisions of China (GB/T 2260), stored and answered by its "
        "canonical name; short forms, traditional characters and pinyin are accepted "
        "(新疆, 新疆省, 新疆維吾爾自治區, Xinjiang → 新疆维吾尔自治区). Anything else is a 422.",
        examples=["黑龙江省"],
    ),
]


class UserCreate(InputModel):
    phone: MobilePhone
    password: Password
    nickname: Nickname = ""


class UserRead(OutputModel):
    id: int
    phone: str
    nickname: str
    role: Literal["customer", "merchant", "admin"]
    created_at: datetime


class LoginRequest(InputModel):
    phone: Annotated[str, Field(min_length=1, max_length=20, examples=["13800000000"])]
    password: TypedPassword


class PasswordChange(InputModel):
    old_password: TypedPassword
    new_password: Password


class TokenPair(OutputModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the access token expires")


class RefreshRequest(InputModel):
    refresh_token: Annotated[str, Field(min_length=1, max_length=200)]


class AddressBase(InputModel):
    recipient: ShortText
    phone: MobilePhone
    province: ProvinceName
    city: ShortText
    district: ShortText
    detail: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class AddressCreate(AddressBase):
    is_default: bool = False


class AddressUpdate(InputModel):
    recipient: ShortText | None = None
    phone: MobilePhone | None = None
    province: ProvinceName | None = None
    city: ShortText | None = None
    district: ShortText | None = None
    detail: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = (
        None
    )
    is_default: Literal[True] | None = Field(
        default=None,
        description="true makes this the default; to move the default, set it on another address",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        return reject_nulls(data)


class AddressRead(OutputModel):
    id: int
    recipient: str
    phone: str
    province: str
    city: str
    district: str
    detail: str
    is_default: bool
    needs_correction: bool = Field(
        description="the province could not be recognised when addresses were checked; choose it again "
        "(PATCH the province) before checking out with this address"
    )
    created_at: datetime


class AdminUserRead(OutputModel):
    id: int
    phone: str
    nickname: str
    role: Literal["customer", "merchant", "admin"]
    is_active: bool
    created_at: datetime


class UserUpdate(InputModel):
    role: Literal["customer", "merchant", "admin"] | None = None
    is_active: Annotated[bool, Field(strict=True)] | None = Field(
        default=None,
        description="false disables the account: it can no longer log in, its tokens stop working",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_nulls(cls, data: Any) -> Any:
        return reject_nulls(data)
