from django.urls import path

from closeloop.accounts import views, views_audit, views_groups

app_name = "accounts"
urlpatterns = [
    path("setup/", views.setup, name="setup"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("password-reset/", views.password_reset, name="password_reset"),
    path("password-reset/sent/", views.password_reset_done, name="password_reset_done"),
    path(
        "password-reset/<uidb64>/<token>/",
        views.password_reset_confirm,
        name="password_reset_confirm",
    ),
    path("password-reset/done/", views.password_reset_complete, name="password_reset_complete"),
    path("invite/<str:secret>/", views.accept_invitation, name="accept_invitation"),
    path("settings/", views.profile, name="settings"),
    path("settings/password/", views.PasswordChangeView.as_view(), name="password_change"),
    path("settings/tokens/", views.tokens, name="tokens"),
    path("settings/tokens/<int:token_id>/revoke/", views.revoke_token, name="revoke_token"),
    path("settings/members/", views.members, name="members"),
    path("settings/members/invite/", views.invite, name="invite"),
    path("settings/members/<int:membership_id>/role/", views.change_role, name="change_role"),
    path("settings/members/<int:membership_id>/remove/", views.remove_member, name="remove_member"),
    path(
        "settings/invitations/<int:invitation_id>/revoke/",
        views.revoke_invitation,
        name="revoke_invitation",
    ),
    path("settings/groups/", views_groups.groups, name="groups"),
    path("settings/groups/<int:group_id>/", views_groups.group, name="group"),
    path("settings/groups/<int:group_id>/rename/", views_groups.rename_group, name="rename_group"),
    path("settings/groups/<int:group_id>/delete/", views_groups.delete_group, name="delete_group"),
    path(
        "settings/groups/<int:group_id>/members/add/",
        views_groups.add_group_member,
        name="add_group_member",
    ),
    path(
        "settings/groups/<int:group_id>/members/<str:user_id>/remove/",
        views_groups.remove_group_member,
        name="remove_group_member",
    ),
    path("settings/organization/", views.organization, name="organization"),
    path(
        "settings/organization/tokens/",
        views.organization_token_policy,
        name="organization_token_policy",
    ),
    path(
        "settings/organization/retention/",
        views.organization_retention,
        name="organization_retention",
    ),
    path("settings/audit/", views_audit.audit_log, name="audit"),
    path("settings/audit/export.csv", views_audit.audit_export, name="audit_export"),
    path("settings/organization/switch/", views.switch_organization, name="switch_organization"),
]
