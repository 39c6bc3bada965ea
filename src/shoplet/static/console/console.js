// Shoplet console: draws the dashboard's charts from the JSON the page carries, and scans
// codes with the camera where the browser has BarcodeDetector (typing always works).
(function () {
  "use strict";

  function json(id) {
    var el = document.getElementById(id);
    return el ? JSON.parse(el.textContent) : null;
  }

  function chart(id, option) {
    var el = document.getElementById(id);
    if (!el || !window.echarts) return null;
    var c = window.echarts.init(el, null, { renderer: "canvas" });
    c.setOption(Object.assign({ animation: false }, option));
    window.addEventListener("resize", function () { c.resize(); });
    el.dataset.drawn = "1";
    return c;
  }

  function dashboard() {
    var data = json("chart-data");
    if (!data) return;
    var L = json("chart-labels") || {};
    chart("chart-trend", {
      tooltip: { trigger: "axis" },
      legend: { data: [L.gmv, L.visitors] },
      grid: { left: 50, right: 50, top: 40, bottom: 30 },
      xAxis: { type: "category", data: data.trend.days.map(function (d) { return d.slice(5); }) },
      yAxis: [{ type: "value", name: "¥" }, { type: "value" }],
      series: [
        { name: L.gmv, type: "bar", data: data.trend.gmv, itemStyle: { color: "#f97316" } },
        { name: L.visitors, type: "line", yAxisIndex: 1, data: data.trend.visitors, itemStyle: { color: "#2563eb" } }
      ]
    });
    chart("chart-funnel", {
      tooltip: { trigger: "item" },
      series: [{
        type: "funnel", sort: "none", left: 10, right: 10, top: 10, bottom: 10, minSize: "10%",
        label: { position: "inside", formatter: "{c}" },
        data: data.funnel.map(function (s) { return { name: L[s.step] || s.step, value: s.journeys }; })
      }]
    });
    var pie = function (id, rows) {
      chart(id, {
        tooltip: { trigger: "item", formatter: "{b}: ¥{c} ({d}%)" },
        legend: { type: "scroll", bottom: 0 },
        series: [{
          type: "pie", radius: ["35%", "65%"], center: ["50%", "45%"], label: { show: false },
          data: rows.map(function (r) { return { name: r.name, value: r.gmv }; })
        }]
      });
    };
    pie("chart-stores", data.by_store);
    pie("chart-hosts", data.by_host);
    var r = data.retention, cells = [];
    r.cohorts.forEach(function (day, y) {
      r.rates[y].forEach(function (rate, x) { if (rate !== null) cells.push([x, y, rate]); });
    });
    chart("chart-retention", {
      tooltip: { formatter: function (p) { return r.cohorts[p.value[1]] + " D+" + r.offsets[p.value[0]] + ": " + p.value[2] + "%"; } },
      grid: { left: 90, right: 20, top: 10, bottom: 60 },
      xAxis: { type: "category", data: r.offsets.map(function (o) { return "D+" + o; }) },
      yAxis: { type: "category", data: r.cohorts.map(function (d, i) { return d.slice(5) + " (" + r.sizes[i] + ")"; }), inverse: true },
      visualMap: { min: 0, max: 100, calculable: true, orient: "horizontal", left: "center", bottom: 0, inRange: { color: ["#fff7ed", "#c2410c"] } },
      series: [{ type: "heatmap", data: cells, label: { show: true, formatter: function (p) { return p.value[2] + "%"; } } }]
    });
  }

  function scanner() {
    var button = document.getElementById("scan");
    if (!button) return;
    var video = document.getElementById("camera");
    var input = document.getElementById("code");
    var message = document.getElementById("scan-message");
    var stream = null;
    function stop() {
      if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
      stream = null;
      video.hidden = true;
      button.textContent = button.dataset.start;
    }
    button.addEventListener("click", function () {
      if (stream) { stop(); return; }
      if (!("BarcodeDetector" in window) || !navigator.mediaDevices) {
        message.textContent = button.dataset.unsupported;
        input.focus();
        return;
      }
      var detector = new window.BarcodeDetector();
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } }).then(function (s) {
        stream = s;
        video.srcObject = s;
        video.hidden = false;
        button.textContent = button.dataset.stop;
        return video.play();
      }).then(function tick() {
        if (!stream) return;
        detector.detect(video).then(function (codes) {
          if (codes.length) {
            input.value = codes[0].rawValue;
            stop();
            document.getElementById("lookup").requestSubmit();
          } else {
            window.requestAnimationFrame(tick);
          }
        }).catch(function () { window.requestAnimationFrame(tick); });
      }).catch(function () {
        stop();
        message.textContent = button.dataset.unsupported;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    dashboard();
    scanner();
  });
})();
