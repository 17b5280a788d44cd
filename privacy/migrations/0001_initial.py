# Part 2 consent and the disclosure ledger.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("admissions", "0012_person_name_search_indexes"),
        ("crm", "0002_audit_append_only"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Part2Consent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "information",
                    models.JSONField(
                        help_text="Codes of ``Information`` the patient allows to be disclosed."
                    ),
                ),
                (
                    "information_detail",
                    models.TextField(
                        blank=True, help_text="Any further limit on how much and what kind of information."
                    ),
                ),
                (
                    "recipient_type",
                    models.CharField(
                        choices=[
                            ("partner", "A referral partner"),
                            ("vob_company", "An outside verification-of-benefits company"),
                            ("provider", "Another provider, by name"),
                            ("tpo", "A treatment, payment or health care operations class"),
                        ],
                        max_length=12,
                    ),
                ),
                ("recipient_name", models.CharField(blank=True, max_length=160)),
                (
                    "tpo_class",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("treatment", "Treatment: providers who treat the patient"),
                            ("payment", "Payment: health plans, payers and those who verify benefits"),
                            ("operations", "Health care operations"),
                        ],
                        max_length=10,
                    ),
                ),
                (
                    "purpose",
                    models.CharField(
                        choices=[
                            ("referral", "Referral to another provider for treatment"),
                            ("benefits", "Verification of benefits and payment"),
                            ("care_coordination", "Keeping the referring partner informed of the admission"),
                            ("patient_request", "At the request of the patient"),
                        ],
                        max_length=20,
                    ),
                ),
                (
                    "right_to_revoke",
                    models.TextField(help_text="The right-to-revoke statement and how to revoke."),
                ),
                ("expires_on", models.DateField(blank=True, null=True)),
                ("expiry_event", models.CharField(blank=True, max_length=200)),
                (
                    "signature_method",
                    models.CharField(
                        choices=[
                            ("e_signature", "Electronic signature (name typed by the patient)"),
                            ("verbal", "Verbal consent, recorded"),
                            ("paper", "Signed on paper, scanned"),
                        ],
                        max_length=12,
                    ),
                ),
                ("signer_name", models.CharField(max_length=160)),
                (
                    "signer_capacity",
                    models.CharField(
                        choices=[
                            ("patient", "The patient"),
                            ("representative", "The patient's legal representative"),
                        ],
                        default="patient",
                        max_length=14,
                    ),
                ),
                (
                    "signature_reference",
                    models.CharField(
                        blank=True,
                        help_text="Recording id or where the scanned paper is filed.",
                        max_length=200,
                    ),
                ),
                ("signed_on", models.DateField()),
                ("captured_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("revoked_at", models.DateTimeField(blank=True, null=True)),
                (
                    "revocation_method",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("written", "In writing"),
                            ("verbal", "Verbally"),
                            ("electronic", "Electronically"),
                        ],
                        max_length=10,
                    ),
                ),
                ("revocation_note", models.CharField(blank=True, max_length=300)),
                ("expiry_alerted_at", models.DateTimeField(blank=True, null=True)),
                (
                    "captured_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "discloser",
                    models.ForeignKey(
                        help_text="The Part 2 program allowed to disclose.",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="crm.facility",
                    ),
                ),
                (
                    "inquiry",
                    models.ForeignKey(
                        help_text="Where it was captured.",
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="part2_consents",
                        to="admissions.inquiry",
                    ),
                ),
                (
                    "person",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="part2_consents",
                        to="admissions.person",
                    ),
                ),
                (
                    "recipient_partner",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="admissions.referralpartner",
                    ),
                ),
                (
                    "revoked_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "Part 2 consent",
                "ordering": ["-captured_at", "-pk"],
            },
        ),
        migrations.CreateModel(
            name="Disclosure",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "path",
                    models.CharField(
                        choices=[
                            ("referral_packet", "Referral-out packet"),
                            ("outside_vob", "Outside VOB request"),
                            ("partner", "Partner disclosure"),
                        ],
                        max_length=16,
                    ),
                ),
                (
                    "recipient_type",
                    models.CharField(
                        choices=[
                            ("partner", "A referral partner"),
                            ("vob_company", "An outside verification-of-benefits company"),
                            ("provider", "Another provider, by name"),
                            ("tpo", "A treatment, payment or health care operations class"),
                        ],
                        max_length=12,
                    ),
                ),
                ("recipient_label", models.CharField(max_length=160)),
                (
                    "purpose",
                    models.CharField(
                        choices=[
                            ("referral", "Referral to another provider for treatment"),
                            ("benefits", "Verification of benefits and payment"),
                            ("care_coordination", "Keeping the referring partner informed of the admission"),
                            ("patient_request", "At the request of the patient"),
                        ],
                        max_length=20,
                    ),
                ),
                ("information", models.JSONField(help_text="Codes of ``Information`` disclosed.")),
                ("document", models.TextField(help_text="The packet as sent, with the redisclosure notice.")),
                ("made_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "discloser",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT, related_name="+", to="crm.facility"
                    ),
                ),
                (
                    "inquiry",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="disclosures",
                        to="admissions.inquiry",
                    ),
                ),
                (
                    "made_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "person",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="disclosures",
                        to="admissions.person",
                    ),
                ),
                (
                    "recipient_partner",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="admissions.referralpartner",
                    ),
                ),
                (
                    "consent",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="disclosures",
                        to="privacy.part2consent",
                    ),
                ),
            ],
            options={
                "ordering": ["-made_at", "-pk"],
                "permissions": [
                    ("disclose_referral_packet", "Can send a referral-out packet"),
                    ("disclose_outside_vob", "Can send an outside VOB request"),
                    ("disclose_partner", "Can disclose to a referral partner"),
                ],
            },
        ),
        migrations.AddIndex(
            model_name="part2consent",
            index=models.Index(fields=["person", "revoked_at"], name="part2_consent_person_idx"),
        ),
        migrations.AddIndex(
            model_name="part2consent",
            index=models.Index(
                condition=models.Q(("expiry_alerted_at__isnull", True), ("revoked_at__isnull", True)),
                fields=["expires_on"],
                name="part2_consent_expiry_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="part2consent",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("expires_on__isnull", False),
                    models.Q(("expiry_event", ""), _negated=True),
                    _connector="OR",
                ),
                name="part2_consent_expires",
            ),
        ),
        migrations.AddConstraint(
            model_name="part2consent",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("recipient_type", "partner"), ("recipient_partner__isnull", False)),
                    models.Q(
                        ("recipient_type__in", ["vob_company", "provider"]),
                        models.Q(("recipient_name", ""), _negated=True),
                    ),
                    models.Q(("recipient_type", "tpo"), models.Q(("tpo_class", ""), _negated=True)),
                    _connector="OR",
                ),
                name="part2_consent_names_recipient",
            ),
        ),
        migrations.AddConstraint(
            model_name="part2consent",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("revoked_at__isnull", True),
                    models.Q(
                        models.Q(("revocation_method", ""), _negated=True), ("revoked_by__isnull", False)
                    ),
                    _connector="OR",
                ),
                name="part2_consent_revocation_complete",
            ),
        ),
        migrations.AddIndex(
            model_name="disclosure",
            index=models.Index(fields=["person", "made_at"], name="disclosure_ledger_idx"),
        ),
    ]
