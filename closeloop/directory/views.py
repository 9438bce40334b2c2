"""The XM Directory pages: contacts, a contact, mailing lists, directory settings.

Views are thin: they read through queries (scoped by request.organization), write through
actions, and show an action's InvalidValue as a form error.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from closeloop.accounts.views import organization_required
from closeloop.directory import actions, imports, match_indexes, queries, touchpoints
from closeloop.directory.dedup import InvalidValue
from closeloop.directory.forms import (
    ContactForm,
    DirectorySettingsForm,
    FrequencyRuleForm,
    ImportForm,
    MailingListForm,
    embedded_lines,
)
from closeloop.directory.models import Directory

PAGE_SIZE = 50


def _directory(request) -> Directory:
    """The directory named by ?directory=POOL_…, else the organization's default one."""
    public_id = request.GET.get("directory") or request.POST.get("directory")
    if public_id:
        directory = queries.directory(request.organization, public_id)
        if directory is None:
            raise Http404("No such directory.")
        return directory
    return queries.default_directory(request.organization) or actions.default_directory(
        request.organization
    )


def _contact_or_404(request, contact_id: str):
    contact = queries.contact(request.organization, contact_id)
    if contact is None:
        raise Http404("No such contact.")
    return contact


def _list_or_404(request, list_id: str):
    mailing_list = queries.mailing_list(request.organization, list_id)
    if mailing_list is None:
        raise Http404("No such mailing list.")
    return mailing_list


def _page(request, template: str, tab: str, directory: Directory, **context):
    context.update(
        active="directory",
        tab=tab,
        directory=directory,
        directories=list(queries.directories_of(request.organization)),
    )
    return render(request, template, context)


def _cursor(request) -> int:
    try:
        return max(0, int(request.GET.get("after", 0)))
    except ValueError:
        return 0


# Contacts ----------------------------------------------------------------------------------


@organization_required
def contacts(request):
    directory = _directory(request)
    term = request.GET.get("q", "").strip()
    after = _cursor(request)
    rows, next_cursor = queries.contacts_page(
        request.organization, directory, after_id=after, limit=PAGE_SIZE, search=term
    )
    return _page(
        request,
        "directory/contacts.html",
        "contacts",
        directory,
        contacts=rows,
        term=term,
        next_cursor=next_cursor,
        is_first_page=after == 0,
    )


@organization_required
def contact_create(request):
    directory = _directory(request)
    form = ContactForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            contact, created = actions.upsert_contact(
                directory,
                form.contact_fields(),
                form.cleaned_data["embedded"],
                actor=request.user,
            )
        except InvalidValue as error:
            form.add_error(None, str(error))
        else:
            if created:
                messages.success(request, "Contact created.")
            else:
                messages.info(
                    request,
                    "This person was already in the directory (matched by the deduplication "
                    "rules); their contact was updated.",
                )
            return redirect("directory:contact", contact.public_id)
    return _page(
        request, "directory/contact_form.html", "contacts", directory, form=form, contact=None
    )


@organization_required
def contact_detail(request, contact_id: str):
    contact = _contact_or_404(request, contact_id)
    return _page(
        request,
        "directory/contact.html",
        "contacts",
        contact.directory,
        contact=contact,
        memberships=list(queries.memberships_of(contact)),
        lists=list(queries.mailing_lists_of(request.organization, contact.directory)),
        timeline=touchpoints.timeline(
            request.organization, contact, limit=200, viewer=request.user
        ),
        opt_out_url=actions.opt_out_url(contact),
    )


@organization_required
def contact_edit(request, contact_id: str):
    contact = _contact_or_404(request, contact_id)
    initial = {
        **actions.contact_values(contact),
        "embedded": embedded_lines(contact.embedded_data),
    }
    form = ContactForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            embedded = form.cleaned_data["embedded"]
            removed = [name for name in contact.embedded_data if name not in embedded]
            contact = actions.update_contact(
                contact, form.contact_fields(), embedded, actor=request.user
            )
            if removed:
                actions.remove_embedded_data(contact, removed)
        except InvalidValue as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, "Contact saved.")
            return redirect("directory:contact", contact.public_id)
    return _page(
        request,
        "directory/contact_form.html",
        "contacts",
        contact.directory,
        form=form,
        contact=contact,
    )


@organization_required
@require_POST
def contact_delete(request, contact_id: str):
    contact = _contact_or_404(request, contact_id)
    directory_id = contact.directory.public_id
    actions.delete_contact(contact, actor=request.user)
    messages.success(request, "Contact deleted.")
    return redirect(reverse("directory:contacts") + f"?directory={directory_id}")


@organization_required
@require_POST
def contact_unsubscribe(request, contact_id: str):
    contact = _contact_or_404(request, contact_id)
    if request.POST.get("resubscribe"):
        actions.update_contact(contact, {"unsubscribed": False}, actor=request.user)
        messages.success(request, "The contact can receive messages again.")
    else:
        actions.unsubscribe_contact(contact)
        messages.success(request, "The contact is unsubscribed from the directory.")
    return redirect("directory:contact", contact.public_id)


# Mailing lists -----------------------------------------------------------------------------


@organization_required
def mailing_lists(request):
    directory = _directory(request)
    form = MailingListForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            mailing_list = actions.create_mailing_list(
                directory, form.cleaned_data["name"], owner=request.user
            )
        except InvalidValue as error:
            form.add_error("name", str(error))
        else:
            messages.success(request, f"Mailing list “{mailing_list.name}” created.")
            return redirect("directory:list", mailing_list.public_id)
    return _page(
        request,
        "directory/lists.html",
        "lists",
        directory,
        lists=list(queries.mailing_lists_of(request.organization, directory)),
        form=form,
    )


@organization_required
def mailing_list_detail(request, list_id: str):
    mailing_list = _list_or_404(request, list_id)
    form = MailingListForm(request.POST or None, initial={"name": mailing_list.name})
    if request.method == "POST" and form.is_valid():
        try:
            actions.update_mailing_list(mailing_list, name=form.cleaned_data["name"])
        except InvalidValue as error:
            form.add_error("name", str(error))
        else:
            messages.success(request, "Mailing list renamed.")
            return redirect("directory:list", mailing_list.public_id)
    after = _cursor(request)
    rows, next_cursor = queries.contacts_page(
        request.organization,
        mailing_list.directory,
        after_id=after,
        limit=PAGE_SIZE,
        mailing_list=mailing_list,
    )
    unsubscribed = set(
        mailing_list.memberships.filter(contact__in=rows, unsubscribed=True).values_list(
            "contact_id", flat=True
        )
    )
    return _page(
        request,
        "directory/list.html",
        "lists",
        mailing_list.directory,
        mailing_list=mailing_list,
        contacts=rows,
        unsubscribed=unsubscribed,
        next_cursor=next_cursor,
        is_first_page=after == 0,
        form=form,
    )


@organization_required
@require_POST
def mailing_list_delete(request, list_id: str):
    mailing_list = _list_or_404(request, list_id)
    directory_id = mailing_list.directory.public_id
    actions.delete_mailing_list(mailing_list)
    messages.success(request, "Mailing list deleted; its contacts stay in the directory.")
    return redirect(reverse("directory:lists") + f"?directory={directory_id}")


@organization_required
@require_POST
def mailing_list_remove(request, list_id: str, contact_id: str):
    mailing_list = _list_or_404(request, list_id)
    contact = queries.contact(request.organization, contact_id, mailing_list.directory)
    if contact is None:
        raise Http404("No such contact.")
    actions.remove_from_mailing_list(mailing_list, contact)
    messages.success(request, "Removed from the list.")
    return redirect("directory:list", mailing_list.public_id)


@organization_required
@require_POST
def contact_add_to_list(request, contact_id: str):
    contact = _contact_or_404(request, contact_id)
    mailing_list = queries.mailing_list(
        request.organization, request.POST.get("list", ""), contact.directory
    )
    if mailing_list is None:
        messages.error(request, "Choose a mailing list of this directory.")
    else:
        actions.add_to_mailing_list(mailing_list, contact)
        messages.success(request, f"Added to “{mailing_list.name}”.")
    return redirect("directory:contact", contact.public_id)


# Settings ----------------------------------------------------------------------------------


@organization_required
def directory_settings(request):
    directory = _directory(request)
    lists = list(queries.mailing_lists_of(request.organization, directory))
    settings_form = DirectorySettingsForm(
        request.POST if request.POST.get("form") == "settings" else None,
        initial=DirectorySettingsForm.initial_for(directory),
    )
    rule_form = FrequencyRuleForm(
        request.POST if request.POST.get("form") == "frequency" else None, mailing_lists=lists
    )
    if request.method == "POST" and settings_form.is_bound and settings_form.is_valid():
        rules = settings_form.dedup_rules()
        if not rules:
            settings_form.add_error("rule1", "Give at least one rule.")
        else:
            try:
                actions.update_directory_settings(
                    directory,
                    name=settings_form.cleaned_data["name"],
                    dedup_rules=rules,
                    default_phone_region=settings_form.cleaned_data["default_phone_region"],
                )
            except InvalidValue as error:
                settings_form.add_error(None, str(error))
            else:
                messages.success(request, "Directory settings saved.")
                return redirect(_settings_url(directory))
    if request.method == "POST" and rule_form.is_bound and rule_form.is_valid():
        data = rule_form.cleaned_data
        mailing_list = None
        if data["scope"] == "list":
            mailing_list = queries.mailing_list(
                request.organization, data["mailing_list"], directory
            )
            if mailing_list is None:
                rule_form.add_error("mailing_list", "Choose a mailing list.")
        if data["scope"] == "survey" and not data["survey_id"].strip():
            rule_form.add_error("survey_id", "Give the survey id (SV_…).")
        if not rule_form.errors:
            try:
                actions.create_frequency_rule(
                    directory,
                    channel=data["channel"],
                    max_messages=data["max_messages"],
                    period_days=data["period_days"],
                    min_days_between=data["min_days_between"],
                    mailing_list=mailing_list,
                    survey_id=data["survey_id"] if data["scope"] == "survey" else "",
                )
            except InvalidValue as error:
                rule_form.add_error(None, str(error))
            else:
                messages.success(request, "Frequency rule added.")
                return redirect(_settings_url(directory))
    return _page(
        request,
        "directory/settings.html",
        "settings",
        directory,
        settings_form=settings_form,
        rule_form=rule_form,
        rules=list(queries.frequency_rules_of(request.organization, directory)),
        rule_indexes=match_indexes.states(directory),
    )


def _settings_url(directory: Directory) -> str:
    return reverse("directory:settings") + f"?directory={directory.public_id}"


@organization_required
@require_POST
def frequency_rule_delete(request, rule_id: int):
    directory = _directory(request)
    rule = queries.frequency_rule(request.organization, directory, rule_id)
    if rule is None:
        raise Http404("No such rule.")
    actions.delete_frequency_rule(rule)
    messages.success(request, "Frequency rule removed.")
    return redirect(_settings_url(directory))


# Import and export -------------------------------------------------------------------------


@organization_required
def contact_imports(request):
    directory = _directory(request)
    lists = list(queries.mailing_lists_of(request.organization, directory))
    form = ImportForm(request.POST or None, request.FILES or None, mailing_lists=lists)
    if request.method == "POST" and form.is_valid():
        mailing_list = None
        if form.cleaned_data["mailing_list"]:
            mailing_list = queries.mailing_list(
                request.organization, form.cleaned_data["mailing_list"], directory
            )
        try:
            contact_import = actions.start_import(
                directory, form.cleaned_data["file"], mailing_list=mailing_list, user=request.user
            )
        except InvalidValue as error:
            form.add_error("file", str(error))
        else:
            return redirect("directory:import", contact_import.pk)
    return _page(
        request,
        "directory/imports.html",
        "imports",
        directory,
        form=form,
        imports=list(queries.imports_of(request.organization, directory)),
    )


@organization_required
def contact_import_detail(request, import_id: int):
    contact_import = queries.contact_import(request.organization, import_id)
    if contact_import is None:
        raise Http404("No such import.")
    if request.htmx:
        return render(request, "directory/_import_status.html", {"contact_import": contact_import})
    return _page(
        request,
        "directory/import.html",
        "imports",
        contact_import.directory,
        contact_import=contact_import,
    )


@organization_required
def contacts_export(request):
    directory = _directory(request)
    mailing_list = None
    if request.GET.get("list"):
        mailing_list = queries.mailing_list(request.organization, request.GET["list"], directory)
        if mailing_list is None:
            raise Http404("No such mailing list.")
    contacts = queries.contacts_for_export(request.organization, directory, mailing_list)
    response = StreamingHttpResponse(
        imports.export_rows(contacts), content_type="text/csv; charset=utf-8"
    )
    name = (mailing_list or directory).public_id
    response["Content-Disposition"] = f'attachment; filename="contacts-{name}.csv"'
    return response
