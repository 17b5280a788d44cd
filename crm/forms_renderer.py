"""The form renderer: Django's widget templates through their Jinja2 twins.

Django renders every widget from a template (``django/forms/widgets/input.html`` including
``attrs.html``, one ``select_option.html`` per option, and so on). With the Django template
engine that is most of the time of a page full of forms: the inquiry page renders about thirty
fields for its actions. Django ships the same widget templates for Jinja2
(``django/forms/jinja2``), which produce the same markup faster (``bench/pages.py``). Everything
else (form and field layouts, the admin's own widgets, the project's templates) still goes
through the Django template engine.
"""

from __future__ import annotations

from typing import Any

from django.forms.renderers import DjangoTemplates, Jinja2
from django.utils.functional import cached_property

WIDGETS = "django/forms/widgets/"


class WidgetsThroughJinja2(DjangoTemplates):
    @cached_property
    def jinja2(self) -> Jinja2:
        return Jinja2()

    def get_template(self, template_name: str) -> Any:
        if template_name.startswith(WIDGETS):
            return self.jinja2.get_template(template_name)
        return super().get_template(template_name)
