"""Text from a file a student uploads is shown as text in the lab's error toast, never as a link or a form."""

from playwright.sync_api import expect

HOSTILE = "<a href=https://evil.invalid/login>log in again</a><input placeholder=password>"


def test_a_label_with_markup_is_shown_literally_in_the_error_toast(page, tmp_path):
    csv = tmp_path / "labels.csv"
    rows = [f'"a good film number {i}",pos' for i in range(8)] + [f'"a bad film number {i}",neg' for i in range(8)]
    csv.write_text("text,label\n" + "\n".join(rows) + f'\n"the odd one out",{HOSTILE}\n', encoding="utf-8")
    page.get_by_role("tab", name="Fine-tune").click()
    page.locator("#ft-file input[type=file]").set_input_files(str(csv))
    expect(page.locator("#ft-data-info")).to_contain_text("17 rows")
    page.locator("#ft-train").click()
    toast = page.get_by_test_id("toast-body").first
    expect(toast).to_contain_text(HOSTILE)
    assert toast.locator("a, input, img").count() == 0
    # the data panel above quotes the same label: as text there too
    assert page.locator("#ft-data-info").locator("a, input, img").count() == 0
