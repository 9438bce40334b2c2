"""The `closeloop` command: Django's management commands with plain-words start-up errors."""

import os
import sys


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "closeloop.settings")
    argv = list(sys.argv if argv is None else argv)
    argv[0] = "closeloop"
    from django.core.exceptions import ImproperlyConfigured

    try:
        import django

        django.setup()
    except ImproperlyConfigured as error:
        sys.stderr.write(f"Closeloop cannot start: the configuration is wrong.\n{error}\n")
        raise SystemExit(2) from None
    from django.core.management import execute_from_command_line

    execute_from_command_line(argv)


if __name__ == "__main__":
    main()
