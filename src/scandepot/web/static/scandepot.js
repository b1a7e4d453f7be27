// scandepot: a little plain JavaScript. Pages work without it, except the uploader,
// which needs it to send the file with a progress bar.
"use strict";

(function () {
  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // Forms that change or remove something ask first.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // "All shown" checkboxes: every box of that name in the form, or in the nearest
  // element marked data-check-scope (the files of one resource).
  document.addEventListener("change", function (event) {
    var box = event.target;
    var name = box.getAttribute && box.getAttribute("data-check-all");
    if (!name) return;
    var scope = box.closest("[data-check-scope]") || box.form;
    scope.querySelectorAll('input[name="' + name + '"]').forEach(function (other) {
      other.checked = box.checked;
    });
  });

  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function size(bytes) {
    var units = ["B", "kB", "MB", "GB", "TB"];
    var i = 0;
    while (bytes >= 1000 && i < units.length - 1) { bytes /= 1000; i++; }
    return (i === 0 ? bytes : bytes.toFixed(1)) + " " + units[i];
  }

  function text(tag, content) {
    var el = document.createElement(tag);
    el.textContent = content;
    return el;
  }

  function showResult(box, answer) {
    box.replaceChildren();
    box.className = "flash flash-ok";
    var added = (answer.sessions || []).reduce(function (n, s) { return n + s.added; }, 0);
    box.appendChild(text("p", "The upload held " + plural(answer.files, "DICOM file") + " (" +
      size(answer.dicom_bytes) + "); " + (added ? added + " new, sent to the " + answer.destination
      : "none new") + "."));
    (answer.held || []).forEach(function (h) {
      var p = document.createElement("p");
      p.append(plural(h.files, "file") + " held already, nothing added, in ");
      var link = document.createElement("a");
      link.href = h.where === "archive"
        ? "/projects/" + encodeURIComponent(answer.project) + "/sessions/" + encodeURIComponent(h.session)
        : "/prearchive/" + h.staged_id;
      link.textContent = (h.where === "archive" ? "archived session " + h.session_id
        : "staged session " + h.staged_id) + " (" + (h.subject || "no subject") + " / " +
        (h.session || "no session") + ")";
      p.append(link, ".");
      box.appendChild(p);
    });
    (answer.sessions || []).forEach(function (s) {
      var p = document.createElement("p");
      p.append("Session ");
      var link = document.createElement("a");
      link.href = s.status === "archived"
        ? "/projects/" + encodeURIComponent(s.project) + "/sessions/" + encodeURIComponent(s.session)
        : (s.staged_id ? "/prearchive/" + s.staged_id : "/prearchive");
      link.textContent = s.project + " / " + (s.subject || "no subject") + " / " + (s.session || "no session");
      var where = s.status === "archived" ? "archived" : "in the prearchive (" + s.status + ")";
      p.append(link, ": " + where + ", " + s.added + " of " + plural(s.files, "file") + " new, " +
        plural((s.scans || []).length, "scan") + ".");
      box.appendChild(p);
      if (s.scans && s.scans.length) {
        var list = document.createElement("ul");
        list.className = "files";
        s.scans.forEach(function (c) {
          var label = c.id || c.label;
          var description = c.SeriesDescription || c.series_description || "no description";
          var modality = c.Modality || c.modality || "?";
          list.appendChild(text("li", "Scan " + label + ": " + description + " (" + modality + "), " +
            plural(c.files, "file") + ", " + size(c.size)));
        });
        box.appendChild(list);
      }
      (s.problems || []).forEach(function (problem) {
        box.appendChild(text("p", "Problem: " + problem));
      });
    });
    if (answer.skipped && answer.skipped.length) {
      box.appendChild(text("p", plural(answer.skipped.length, "file") + " skipped:"));
      var skipped = document.createElement("ul");
      answer.skipped.slice(0, 50).forEach(function (s) {
        skipped.appendChild(text("li", s.name + ": " + s.reason));
      });
      box.appendChild(skipped);
    }
  }

  function showError(box, message) {
    box.replaceChildren(text("p", message));
    box.className = "flash flash-error";
  }

  function setupUpload(form) {
    var fromDicom = form.querySelector("#u-from-dicom");
    var labels = [form.querySelector("#u-subject"), form.querySelector("#u-session")];
    function sync() {
      labels.forEach(function (input) {
        input.disabled = fromDicom.checked;
        input.required = !fromDicom.checked;
      });
    }
    fromDicom.addEventListener("change", sync);
    sync();
    var progress = document.getElementById("u-progress");
    var percent = document.getElementById("u-percent");
    var result = document.getElementById("u-result");
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var file = form.querySelector("#u-file").files[0];
      if (!file) return;
      var params = new URLSearchParams();
      if (!fromDicom.checked) {
        params.set("subject", labels[0].value);
        params.set("session", labels[1].value);
      }
      params.set("destination", form.querySelector("#u-destination").value);
      params.set("overwrite", form.querySelector("#u-overwrite").value);
      params.set("ignore_unparsable", form.querySelector('[name="ignore_unparsable"]').checked ? "true" : "false");
      var project = form.querySelector("#u-project").value;
      var url = "/api/v1/projects/" + encodeURIComponent(project) + "/import?" + params.toString();
      var button = form.querySelector('button[type="submit"]');
      var xhr = new XMLHttpRequest();
      xhr.open("POST", url);
      xhr.setRequestHeader("X-CSRF-Token", csrf());
      xhr.setRequestHeader("Content-Type", "application/octet-stream");
      xhr.upload.addEventListener("progress", function (e) {
        if (e.lengthComputable) {
          var done = Math.round((e.loaded / e.total) * 100);
          progress.value = done;
          progress.textContent = done + "%";
          percent.textContent = done + "% of " + size(e.total);
        }
      });
      xhr.upload.addEventListener("load", function () {
        percent.textContent = "Sent; the server is reading the file…";
      });
      xhr.addEventListener("load", function () {
        button.disabled = false;
        var answer = null;
        try { answer = JSON.parse(xhr.responseText); } catch (e) { answer = null; }
        if (xhr.status >= 200 && xhr.status < 300 && answer) {
          progress.value = 100;
          percent.textContent = "Done.";
          showResult(result, answer);
        } else {
          var message = answer && answer.error ? answer.error.message : "The upload failed (HTTP " + xhr.status + ").";
          percent.textContent = "";
          showError(result, message);
        }
      });
      xhr.addEventListener("error", function () {
        button.disabled = false;
        showError(result, "The upload could not reach the server.");
      });
      button.disabled = true;
      result.replaceChildren();
      result.className = "";
      progress.value = 0;
      percent.textContent = "Starting…";
      xhr.send(file);
    });
  }

  // A script refused with a line (the de-identification editor): that line selected.
  function selectErrorLine(area) {
    var line = parseInt(area.getAttribute("data-error-line"), 10);
    if (!line) return;
    var lines = area.value.split("\n");
    var start = 0;
    for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
    var end = start + (lines[line - 1] || "").length;
    area.focus();
    area.setSelectionRange(start, end);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var upload = document.querySelector("form[data-upload]");
    if (upload) setupUpload(upload);
    var area = document.querySelector("textarea[data-error-line]");
    if (area) selectErrorLine(area);
  });
})();
