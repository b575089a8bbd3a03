"""The fixed wording of the notice and the record of processing, per language.

Only the words around the register's content live here; the content (purposes, categories,
recipients) comes from the register and is not translated by Confida.
"""

from __future__ import annotations

from confida.errors import BadInput

_EN: dict[str, str] = {
    "title": "Privacy notice",
    "intro": "This notice explains what personal data {controller} processes about you, why, "
             "on which legal basis, for how long, who receives it, and which rights you have "
             "(Article 13 of the General Data Protection Regulation, GDPR).",
    "controller": "Who is responsible",
    "dpo": "Data protection officer",
    "representative": "Representative in the EU",
    "contact_email": "E-mail",
    "contact_address": "Address",
    "contact_phone": "Phone",
    "purposes": "What we process and why",
    "legal_basis": "Legal basis",
    "legitimate_interest": "Our legitimate interest",
    "categories": "Personal data used",
    "special": "special category of personal data (Art. 9 GDPR)",
    "special_condition": "Special categories processed on the basis of",
    "cond_explicit_consent": "your explicit consent",
    "cond_employment": "obligations and rights in employment, social security and social "
                       "protection law",
    "cond_vital_interests": "the protection of the vital interests of a person who cannot give "
                            "consent",
    "cond_not_for_profit": "the legitimate activities of a foundation, association or other "
                           "not-for-profit body, for its members",
    "cond_made_public": "data you have manifestly made public",
    "cond_legal_claims": "the establishment, exercise or defence of legal claims",
    "cond_substantial_public_interest": "reasons of substantial public interest under Union or "
                                        "Member State law",
    "cond_health_care": "preventive or occupational medicine, medical diagnosis, or the "
                        "provision of health or social care",
    "cond_public_health": "reasons of public interest in the area of public health",
    "cond_archiving_research": "archiving in the public interest, scientific or historical "
                               "research, or statistics",
    "recipients": "Recipients",
    "no_recipients": "No recipients outside the controller.",
    "retention": "How long we keep it",
    "retention_text": "{period} from collection, then deleted.",
    "kind_cap": "{kind}: at most {period}.",
    "requirement": "Is it required?",
    "consent_question": "Consent question",
    "automated": "Automated decision-making (Art. 22 GDPR) takes place for this purpose.",
    "transfers": "Transfers outside the EU/EEA",
    "no_transfers": "Your personal data is not transferred to countries outside the EU/EEA.",
    "transfer_row": "{recipient} in {country} ({purpose}); safeguard: {safeguard}",
    "rights": "Your rights",
    "how": "How to exercise your rights",
    "how_default": "Write to {email}. We answer within one month (Art. 12(3) GDPR); "
                   "exercising your rights is free of charge.",
    "privacy_center": "You can also use the privacy center: {url}",
    "withdraw": "Withdrawing consent",
    "withdraw_text": "Where we rely on your consent, you may withdraw it at any time, as easily "
                     "as you gave it. Withdrawal takes effect immediately for all further "
                     "processing; it does not affect processing before it (Art. 7(3) GDPR).",
    "complain": "Complaints",
    "complain_text": "You have the right to lodge a complaint with a supervisory authority, in "
                     "particular in the Member State of your residence, place of work or of the "
                     "alleged infringement (Art. 77 GDPR).",
    "authority": "Our lead supervisory authority",
    "automated_none": "We do not take decisions based solely on automated processing that "
                      "produce legal or similarly significant effects for you (Art. 22 GDPR).",
    "automated_title": "Automated decision-making",
    "version": "Notice version",
    "basis_consent": "your consent",
    "basis_contract": "performance of a contract with you",
    "basis_legal_obligation": "a legal obligation we are subject to",
    "basis_vital_interests": "the protection of vital interests",
    "basis_public_task": "a task carried out in the public interest",
    "basis_legitimate_interests": "our legitimate interests",
    "requirement_consent": "Voluntary: nothing happens without your consent, and saying no has "
                           "no effect on the service.",
    "requirement_contract": "Needed to provide the service under our contract; without it we "
                            "cannot provide the service.",
    "requirement_legal_obligation": "Required by law.",
    "requirement_vital_interests": "Needed to protect someone's life or health.",
    "requirement_public_task": "Needed for a task in the public interest.",
    "requirement_legitimate_interests": "Not required from you; you may object (Art. 21 GDPR).",
    "right_access": "Access",
    "right_access_text": "You may obtain confirmation whether we process your data, and a copy "
                         "of it.",
    "right_rectification": "Rectification",
    "right_rectification_text": "You may have inaccurate data corrected and incomplete data "
                                "completed.",
    "right_erasure": "Erasure",
    "right_erasure_text": "You may have your data erased; we erase by destroying the key it is "
                          "encrypted under, which also reaches backups.",
    "erasure_backups": "An erased person's data is unreadable in every backup after {days} "
                       "days at most, and a restored backup never brings an erased person "
                       "back: every erasure is journaled and replayed before a restore serves.",
    "right_restriction": "Restriction",
    "right_restriction_text": "You may have processing restricted: your data is then only "
                              "stored.",
    "right_portability": "Data portability",
    "right_portability_text": "You may receive the data you gave us in a structured, commonly "
                              "used, machine-readable format.",
    "right_object": "Objection",
    "right_object_text": "You may object at any time to processing based on our legitimate "
                         "interests, on grounds relating to your situation.",
    "lang_name": "English",
    "law": "GDPR",
    "units": "year,years,month,months,day,days,hour,hours",
}

_DE: dict[str, str] = {
    "title": "Datenschutzhinweise",
    "intro": "Diese Hinweise erklären, welche personenbezogenen Daten {controller} über Sie "
             "verarbeitet, warum, auf welcher Rechtsgrundlage, wie lange, wer sie erhält und "
             "welche Rechte Sie haben (Artikel 13 der Datenschutz-Grundverordnung, DSGVO).",
    "controller": "Verantwortlicher",
    "dpo": "Datenschutzbeauftragte(r)",
    "representative": "Vertreter in der EU",
    "contact_email": "E-Mail",
    "contact_address": "Anschrift",
    "contact_phone": "Telefon",
    "purposes": "Was wir verarbeiten und warum",
    "legal_basis": "Rechtsgrundlage",
    "legitimate_interest": "Unser berechtigtes Interesse",
    "categories": "Verwendete personenbezogene Daten",
    "special": "besondere Kategorie personenbezogener Daten (Art. 9 DSGVO)",
    "special_condition": "Besondere Kategorien verarbeitet auf Grundlage",
    "cond_explicit_consent": "Ihrer ausdrücklichen Einwilligung",
    "cond_employment": "von Pflichten und Rechten aus dem Arbeitsrecht und dem Recht der "
                       "sozialen Sicherheit und des Sozialschutzes",
    "cond_vital_interests": "des Schutzes lebenswichtiger Interessen einer Person, die nicht "
                            "einwilligen kann",
    "cond_not_for_profit": "der rechtmäßigen Tätigkeit einer Stiftung, Vereinigung oder "
                           "sonstigen Organisation ohne Gewinnerzielungsabsicht, für ihre "
                           "Mitglieder",
    "cond_made_public": "von Daten, die Sie offensichtlich öffentlich gemacht haben",
    "cond_legal_claims": "der Geltendmachung, Ausübung oder Verteidigung von Rechtsansprüchen",
    "cond_substantial_public_interest": "eines erheblichen öffentlichen Interesses nach "
                                        "Unions- oder mitgliedstaatlichem Recht",
    "cond_health_care": "der Gesundheitsvorsorge, Arbeitsmedizin, medizinischen Diagnostik oder "
                        "der Versorgung im Gesundheits- oder Sozialbereich",
    "cond_public_health": "des öffentlichen Interesses im Bereich der öffentlichen Gesundheit",
    "cond_archiving_research": "im öffentlichen Interesse liegender Archivzwecke, "
                               "wissenschaftlicher oder historischer Forschung oder der Statistik",
    "recipients": "Empfänger",
    "no_recipients": "Keine Empfänger außerhalb des Verantwortlichen.",
    "retention": "Speicherdauer",
    "retention_text": "{period} ab Erhebung, danach gelöscht.",
    "kind_cap": "{kind}: höchstens {period}.",
    "requirement": "Ist die Bereitstellung erforderlich?",
    "consent_question": "Einwilligungsfrage",
    "automated": "Für diesen Zweck findet eine automatisierte Entscheidungsfindung "
                 "(Art. 22 DSGVO) statt.",
    "transfers": "Übermittlungen außerhalb der EU/des EWR",
    "no_transfers": "Ihre Daten werden nicht in Länder außerhalb der EU/des EWR übermittelt.",
    "transfer_row": "{recipient}, Drittland: {country} ({purpose}); Garantie: {safeguard}",
    "rights": "Ihre Rechte",
    "how": "So üben Sie Ihre Rechte aus",
    "how_default": "Schreiben Sie an {email}. Wir antworten innerhalb eines Monats "
                   "(Art. 12 Abs. 3 DSGVO); die Ausübung Ihrer Rechte ist kostenlos.",
    "privacy_center": "Sie können auch das Datenschutz-Center nutzen: {url}",
    "withdraw": "Widerruf der Einwilligung",
    "withdraw_text": "Soweit wir uns auf Ihre Einwilligung stützen, können Sie sie jederzeit "
                     "so einfach widerrufen, wie Sie sie erteilt haben. Der Widerruf wirkt sofort "
                     "für jede weitere Verarbeitung; die Rechtmäßigkeit der Verarbeitung davor "
                     "bleibt unberührt (Art. 7 Abs. 3 DSGVO).",
    "complain": "Beschwerderecht",
    "complain_text": "Sie haben das Recht, sich bei einer Aufsichtsbehörde zu beschweren, "
                     "insbesondere in dem Mitgliedstaat Ihres Aufenthaltsorts, Ihres "
                     "Arbeitsplatzes oder des Orts des mutmaßlichen Verstoßes (Art. 77 DSGVO).",
    "authority": "Unsere federführende Aufsichtsbehörde",
    "automated_none": "Wir treffen keine ausschließlich automatisierten Entscheidungen, die "
                      "Ihnen gegenüber rechtliche Wirkung entfalten oder Sie in ähnlicher Weise "
                      "erheblich beeinträchtigen (Art. 22 DSGVO).",
    "automated_title": "Automatisierte Entscheidungsfindung",
    "version": "Version der Hinweise",
    "basis_consent": "Ihre Einwilligung",
    "basis_contract": "Erfüllung eines Vertrags mit Ihnen",
    "basis_legal_obligation": "eine rechtliche Verpflichtung, der wir unterliegen",
    "basis_vital_interests": "der Schutz lebenswichtiger Interessen",
    "basis_public_task": "eine Aufgabe im öffentlichen Interesse",
    "basis_legitimate_interests": "unsere berechtigten Interessen",
    "requirement_consent": "Freiwillig: ohne Ihre Einwilligung geschieht nichts, und eine "
                           "Ablehnung hat keine Folgen für den Dienst.",
    "requirement_contract": "Für die Erbringung des Dienstes nach unserem Vertrag erforderlich; "
                            "ohne sie können wir den Dienst nicht erbringen.",
    "requirement_legal_obligation": "Gesetzlich vorgeschrieben.",
    "requirement_vital_interests": "Zum Schutz von Leben oder Gesundheit erforderlich.",
    "requirement_public_task": "Für eine Aufgabe im öffentlichen Interesse erforderlich.",
    "requirement_legitimate_interests": "Von Ihnen nicht verlangt; Sie können widersprechen "
                                        "(Art. 21 DSGVO).",
    "right_access": "Auskunft",
    "right_access_text": "Sie können Bestätigung verlangen, ob wir Ihre Daten verarbeiten, und "
                         "eine Kopie erhalten.",
    "right_rectification": "Berichtigung",
    "right_rectification_text": "Sie können unrichtige Daten berichtigen und unvollständige "
                                "vervollständigen lassen.",
    "right_erasure": "Löschung",
    "right_erasure_text": "Sie können Ihre Daten löschen lassen; wir löschen, indem wir den "
                          "Schlüssel vernichten, mit dem sie verschlüsselt sind – das erreicht "
                          "auch Sicherungskopien.",
    "erasure_backups": "Die Daten einer gelöschten Person sind nach höchstens {days} Tagen "
                       "in keiner Sicherungskopie mehr lesbar, und eine wiederhergestellte "
                       "Sicherung bringt keine gelöschte Person zurück: Jede Löschung wird "
                       "protokolliert und vor dem Wiederanlauf erneut angewandt.",
    "right_restriction": "Einschränkung",
    "right_restriction_text": "Sie können die Verarbeitung einschränken lassen: Ihre Daten "
                              "werden dann nur noch gespeichert.",
    "right_portability": "Datenübertragbarkeit",
    "right_portability_text": "Sie können die Daten, die Sie uns gegeben haben, in einem "
                              "strukturierten, gängigen, maschinenlesbaren Format erhalten.",
    "right_object": "Widerspruch",
    "right_object_text": "Sie können der Verarbeitung auf Grundlage unserer berechtigten "
                         "Interessen jederzeit aus Gründen Ihrer besonderen Situation "
                         "widersprechen.",
    "lang_name": "Deutsch",
    "law": "DSGVO",
    "units": "Jahr,Jahre,Monat,Monate,Tag,Tage,Stunde,Stunden",
}

LANGUAGES: dict[str, dict[str, str]] = {"en": _EN, "de": _DE}


def strings(lang: str) -> dict[str, str]:
    try:
        return LANGUAGES[lang]
    except KeyError:
        raise BadInput(f"language must be one of {', '.join(LANGUAGES)}") from None


def period(d: object, lang: str) -> str:
    """A retention period in words of ``lang`` (``Duration`` holds months, days and hours)."""
    u = strings(lang)["units"].split(",")
    months, days, hours = d.months, d.days, d.hours  # type: ignore[attr-defined]
    y, mo = divmod(months, 12)
    parts = []
    for i, n in enumerate((y, mo, days, hours)):
        if n:
            parts.append(f"{n} {u[2 * i] if n == 1 else u[2 * i + 1]}")
    return " ".join(parts)


def article(text: str, lang: str) -> str:
    """``Art. 6(1)(a) GDPR`` with the law's name in ``lang``."""
    return text.replace("GDPR", strings(lang)["law"])
