"""Indexes the lead's inserts no longer pay for, with no lookup losing its index.

- Foreign keys that a composite index or unique constraint already leads with lose their own
  index (the inquiry's facility, source and owner; the inquiry key of follow-ups, touches,
  timeline entries and insurance policies; the API key of idempotency records).
- Foreign keys that most rows leave empty keep an index without the empty rows, which serves
  every lookup by value (deletion checks, joins) and takes no entry for a new row without one.
- A follow-up's template code was indexed twice (slug and LIKE) and is never searched by.

Only the indexes change: the foreign key constraints stay as they are (Django's own
``AlterField`` would drop and re-add each one, validating the whole table again).
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

# (table, column, index) of the single-column indexes Django made for these fields.
_DROPPED = [
    ("admissions_contactconsent", "captured_by_id", "admissions_contactconsent_captured_by_id_ba92a996"),
    ("admissions_followup", "cadence_step_id", "admissions_followup_cadence_step_id_9e273f5c"),
    ("admissions_followup", "inquiry_id", "admissions_followup_inquiry_id_21279580"),
    ("admissions_followup", "template_code", "admissions_followup_template_code_e3dae95f"),
    ("admissions_idempotencyrecord", "api_key_id", "admissions_idempotencyrecord_api_key_id_5641bab9"),
    ("admissions_inquiry", "admitted_program_id", "admissions_inquiry_admitted_program_id_197a1d8e"),
    ("admissions_inquiry", "approved_level_id", "admissions_inquiry_approved_level_id_c690cba5"),
    ("admissions_inquiry", "approved_program_id", "admissions_inquiry_approved_program_id_04d7bbde"),
    ("admissions_inquiry", "assigned_to_id", "admissions_inquiry_assigned_to_id_ea96a901"),
    ("admissions_inquiry", "caller_id", "admissions_inquiry_caller_id_e3ffaea3"),
    ("admissions_inquiry", "campaign_id", "admissions_inquiry_campaign_id_b3acb336"),
    ("admissions_inquiry", "capacity_hold_id", "admissions_inquiry_capacity_hold_id_11837343"),
    ("admissions_inquiry", "duplicate_of_id", "admissions_inquiry_duplicate_of_id_2844e07d"),
    ("admissions_inquiry", "facility_id", "admissions_inquiry_facility_id_5c3f1de3"),
    ("admissions_inquiry", "lead_source_id", "admissions_inquiry_lead_source_id_e3d471b2"),
    ("admissions_inquiry", "program_of_interest_id", "admissions_inquiry_program_of_interest_id_9611d09c"),
    ("admissions_inquiry", "referral_partner_id", "admissions_inquiry_referral_partner_id_0c75a50d"),
    ("admissions_inquiryevent", "actor_id", "admissions_inquiryevent_actor_id_22a1869a"),
    ("admissions_inquiryevent", "inquiry_id", "admissions_inquiryevent_inquiry_id_bbffe14f"),
    ("admissions_insurancepolicy", "inquiry_id", "admissions_insurancepolicy_inquiry_id_831513a6"),
    ("admissions_insurancepolicy", "payer_id", "admissions_insurancepolicy_payer_id_009a4d23"),
    ("admissions_touch", "campaign_id", "admissions_touch_campaign_id_085a3831"),
    ("admissions_touch", "inquiry_id", "admissions_touch_inquiry_id_5bd82b78"),
    ("admissions_touch", "referral_partner_id", "admissions_touch_referral_partner_id_5d1134f3"),
]


# (model, foreign key, index) of the indexes without NULL rows that replace them.
_SET_KEYS = [
    ("contactconsent", "captured_by", "consent_captured_by_idx"),
    ("followup", "cadence_step", "followup_cadence_step_idx"),
    ("inquiry", "caller", "inquiry_caller_idx"),
    ("inquiry", "campaign", "inquiry_campaign_idx"),
    ("inquiry", "referral_partner", "inquiry_referral_idx"),
    ("inquiry", "program_of_interest", "inquiry_interest_idx"),
    ("inquiry", "approved_level", "inquiry_appr_level_idx"),
    ("inquiry", "approved_program", "inquiry_appr_program_idx"),
    ("inquiry", "capacity_hold", "inquiry_hold_idx"),
    ("inquiry", "admitted_program", "inquiry_adm_program_idx"),
    ("inquiry", "duplicate_of", "inquiry_duplicate_of_idx"),
    ("inquiryevent", "actor", "event_actor_idx"),
    ("insurancepolicy", "payer", "insurance_payer_idx"),
    ("touch", "campaign", "touch_campaign_idx"),
    ("touch", "referral_partner", "touch_referral_idx"),
]


class Migration(migrations.Migration):
    dependencies = [
        ("admissions", "0015_queue_owner_and_call_indexes"),
        ("crm", "0003_mfa_device_roles"),
        ("programs", "0002_level_catalogue"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="contactconsent",
                    name="captured_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="followup",
                    name="cadence_step",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="admissions.cadencestep",
                    ),
                ),
                migrations.AlterField(
                    model_name="followup",
                    name="inquiry",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="followups",
                        to="admissions.inquiry",
                    ),
                ),
                migrations.AlterField(
                    model_name="followup",
                    name="template_code",
                    field=models.SlugField(blank=True, db_index=False, max_length=60),
                ),
                migrations.AlterField(
                    model_name="idempotencyrecord",
                    name="api_key",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="admissions.leadsourcekey",
                    ),
                ),
                migrations.AlterField(
                    model_name="inquiry",
                    name="admitted_program",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="programs.program",
                    ),
                ),
                migrations.AlterField(
                    model_name="inquiry",
                    name="approved_level",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="programs.levelofcare",
                    ),
                ),
                migrations.AlterField(
                    model_name="inquiry",
                    name="approved_program",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="programs.program",
                    ),
                ),
                migrations.AlterField(
                    model_name="inquiry",
                    name="assigned_to",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="inquiries",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="inquiry",
                    name="caller",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="inquiries",
                        to="admissions.caller",
                    ),
                ),
                migrations.AlterField(
                    model_name="inquiry",
                    name="campaign",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="inquiries",
                        to="admissions.campaign",
                    ),
                ),
                migrations.AlterField(
                    model_name="inquiry",
                    name="capacity_hold",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="programs.capacityhold",
                    ),
                ),
                migrations.AlterField(
                    model_name="inquiry",
                    name="duplicate_of",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="duplicates",
                        to="admissions.inquiry",
                    ),
                ),
                migrations.AlterField(
                    model_name="inquiry",
                    name="facility",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="inquiries",
                        to="crm.facility",
                    ),
                ),
                migrations.AlterField(
                    model_name="inquiry",
                    name="lead_source",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="inquiries",
                        to="admissions.leadsource",
                    ),
                ),
                migrations.AlterField(
                    model_name="inquiry",
                    name="program_of_interest",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="programs.program",
                    ),
                ),
                migrations.AlterField(
                    model_name="inquiry",
                    name="referral_partner",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="inquiries",
                        to="admissions.referralpartner",
                    ),
                ),
                migrations.AlterField(
                    model_name="inquiryevent",
                    name="actor",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="inquiryevent",
                    name="inquiry",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="events",
                        to="admissions.inquiry",
                    ),
                ),
                migrations.AlterField(
                    model_name="insurancepolicy",
                    name="inquiry",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="insurance_policies",
                        to="admissions.inquiry",
                    ),
                ),
                migrations.AlterField(
                    model_name="insurancepolicy",
                    name="payer",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="programs.payer",
                    ),
                ),
                migrations.AlterField(
                    model_name="touch",
                    name="campaign",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="admissions.campaign",
                    ),
                ),
                migrations.AlterField(
                    model_name="touch",
                    name="inquiry",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="touches",
                        to="admissions.inquiry",
                    ),
                ),
                migrations.AlterField(
                    model_name="touch",
                    name="referral_partner",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="admissions.referralpartner",
                    ),
                ),
            ],
            database_operations=[
                *(
                    migrations.RunSQL(
                        f'DROP INDEX IF EXISTS "{name}"',
                        reverse_sql=f'CREATE INDEX "{name}" ON "{table}" ("{column}")',
                    )
                    for table, column, name in _DROPPED
                ),
                # PostgreSQL only, and LIKE on a template code is never asked for: not rebuilt.
                migrations.RunSQL(
                    'DROP INDEX IF EXISTS "admissions_followup_template_code_e3dae95f_like"',
                    reverse_sql=migrations.RunSQL.noop,
                ),
            ],
        ),
        # Indexes of keys most rows leave empty, without the empty rows.
        *(
            migrations.AddIndex(
                model_name=model_name,
                index=models.Index(
                    condition=models.Q((f"{field}__isnull", False)), fields=[field], name=name
                ),
            )
            for model_name, field, name in _SET_KEYS
        ),
    ]
