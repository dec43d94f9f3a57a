import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first admin account if there is none; print its password once (or use VAM_ADMIN_PASSWORD)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--username", default=os.environ.get("VAM_ADMIN_USER", "admin"))

    def handle(self, *args, **options) -> None:
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        password = os.environ.get("VAM_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=options["username"], email="", password=password)
        self.stdout.write(f"Created admin account {options['username']!r}.")
        if not os.environ.get("VAM_ADMIN_PASSWORD"):
            self.stdout.write(f"Its password, shown only this once: {password}")
