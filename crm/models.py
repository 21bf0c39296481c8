"""Imports every domain's models so the metadata is complete (for Alembic and create_app)."""

from crm.acquisitions import models as acquisitions_models  # noqa: F401
from crm.digests import models as digests_models  # noqa: F401
from crm.interests import models as interests_models  # noqa: F401
from crm.liaison import models as liaison_models  # noqa: F401
from crm.mail import models as mail_models  # noqa: F401
from crm.matching import models as matching_models  # noqa: F401
from crm.questions import models as questions_models  # noqa: F401
from crm.security import models as security_models  # noqa: F401
from crm.sources import models as sources_models  # noqa: F401
