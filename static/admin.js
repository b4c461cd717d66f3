// Owner pages: copy buttons, and reading a chosen CSV file into the bulk-add form.
"use strict";
document.querySelectorAll("button.copy").forEach((button) => {
  button.addEventListener("click", async () => {
    const source = document.getElementById(button.dataset.copy);
    try {
      await navigator.clipboard.writeText(source.textContent);
      button.textContent = "Copied";
    } catch (e) {
      window.getSelection().selectAllChildren(source);
    }
  });
});

// The form posts text only: the file's content goes into the CSV field.
const csvFile = document.getElementById("csv-file");
if (csvFile) {
  const csvField = document.getElementById("bulk-csv");
  const csvError = document.getElementById("csv-error");
  csvFile.addEventListener("change", () => {
    csvError.hidden = true;
    const file = csvFile.files && csvFile.files[0];
    if (!file) return;
    if (file.size > 30000) {
      csvError.textContent = "This file is larger than 30 KB; split it, or paste the names instead.";
      csvError.hidden = false;
      return;
    }
    file.text().then((text) => {
      csvField.value = text;
    }, () => {
      csvError.textContent = "The file could not be read.";
      csvError.hidden = false;
    });
  });
}
