from sqlalchemy.ext.asyncio import AsyncSession

from app.config import get_settings
from app.users import repository, service
from app.users.models import Role
from app.users.schemas import AddressCreate, UserCreate

DEMO_CUSTOMER_PHONE = "13800000000"
DEMO_CUSTOMER_PASSWORD = "demo-pass-2026"
DEMO_ADMIN_PHONE = "13900000000"
DEMO_ADMIN_PASSWORD = "admin-pass-2026"


async def seed(session: AsyncSession) -> None:
    customer = await repository.get_by_phone(session, DEMO_CUSTOMER_PHONE)
    if customer is None:
        customer = await service.register(
            session,
            UserCreate(phone=DEMO_CUSTOMER_PHONE, password=DEMO_CUSTOMER_PASSWORD, nickname="稻香体验官"),
            client_ip="seed",
        )
        await service.create_address(
            session,
            customer,
            AddressCreate(
                recipient="张三",
                phone=DEMO_CUSTOMER_PHONE,
                province="北京市",
                city="北京市",
                district="朝阳区",
                detail="建国路 88 号 稻香小区 1 号楼 101（示例地址）",
                is_default=True,
            ),
        )
    if get_settings().app_env != "prod" and await repository.get_by_phone(session, DEMO_ADMIN_PHONE) is None:
        await service.create_admin(session, DEMO_ADMIN_PHONE, DEMO_ADMIN_PASSWORD, Role.admin)
