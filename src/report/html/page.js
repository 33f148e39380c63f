// Sorts and filters the timeline table; the page reads the same without it.
(function () {
  "use strict";
  var table = document.getElementById("timeline-table");
  var controls = document.getElementById("timeline-controls");
  if (!table || !controls) {
    return;
  }
  var body = table.tBodies[0];
  var rows = Array.prototype.slice.call(body.rows);
  var input = document.getElementById("timeline-filter");
  var shown = document.getElementById("timeline-shown");
  controls.hidden = false;

  function filter() {
    var words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    var count = 0;
    rows.forEach(function (row) {
      var text = row.textContent.toLowerCase();
      var keep = words.every(function (word) { return text.indexOf(word) >= 0; });
      row.hidden = !keep;
      if (keep) {
        count += 1;
      }
    });
    shown.textContent = count + " of " + rows.length + " rows shown";
  }

  var headers = table.tHead.rows[0].cells;
  Array.prototype.forEach.call(headers, function (th, column) {
    var button = document.createElement("button");
    button.type = "button";
    button.textContent = th.textContent;
    th.textContent = "";
    th.appendChild(button);
    button.addEventListener("click", function () {
      var ascending = th.getAttribute("aria-sort") !== "ascending";
      Array.prototype.forEach.call(headers, function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      var key = function (row) {
        var cell = row.cells[column];
        return cell.getAttribute("data-sort") || cell.textContent;
      };
      rows.sort(function (a, b) {
        var order = key(a).localeCompare(key(b), undefined, { numeric: true });
        return ascending ? order : -order;
      });
      rows.forEach(function (row) { body.appendChild(row); });
    });
  });
  input.addEventListener("input", filter);
  filter();
})();
