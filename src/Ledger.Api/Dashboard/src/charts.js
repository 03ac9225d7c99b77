// The dashboard's charts: ECharts (Apache ECharts, tree-shaken to what is used here) drawing SVG, and one function per
// chart that turns a reporting endpoint's answer into a chart option. Nothing here fetches or touches the page.
import * as echarts from 'echarts/core';
import { BarChart, LineChart, ScatterChart } from 'echarts/charts';
import {
  AriaComponent, DataZoomComponent, GridComponent, LegendComponent, MarkLineComponent, MarkPointComponent, TooltipComponent,
} from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';

echarts.use([
  BarChart, LineChart, ScatterChart, AriaComponent, DataZoomComponent, GridComponent, LegendComponent, MarkLineComponent,
  MarkPointComponent, TooltipComponent, SVGRenderer,
]);

const integer = new Intl.NumberFormat('en', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('en', { minimumFractionDigits: 1, maximumFractionDigits: 1 });
const percent = new Intl.NumberFormat('en', { style: 'percent', maximumFractionDigits: 0 });

export const formatInteger = (n) => integer.format(n);
export const formatGwh = (mwh) => `${new Intl.NumberFormat('en', { maximumFractionDigits: mwh < 10_000 ? 2 : 1 }).format(mwh / 1000)} GWh`;

/** 1 → "1st", 1000 → "1,000th", 2000 → "2,000th": the milestone's name. */
export function ordinal(n) {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' })[n % 10] ?? 'th';
  return `${integer.format(n)}${suffix}`;
}

// One colour per market region in every chart, so Europe is the same blue in units, GWh and transit.
const regionColours = {
  'North America': '#3b6fb6', China: '#c0392b', Europe: '#2e8bc0', Australia: '#e08e0b', 'Asia Pacific': '#16a085',
  'Middle East': '#8e44ad', 'Latin America': '#7f8c3a', Africa: '#a0522d', Other: '#7f8c8d',
};
const factoryColours = ['#c0392b', '#3b6fb6', '#16a085', '#8e44ad'];
const stateColours = { running: '#2e7d32', rebuilding: '#e08e0b', failed: '#c62828' };

const base = {
  aria: { enabled: true },
  animation: false,
  textStyle: { fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif' },
  tooltip: { trigger: 'axis', confine: true },
};

/** Draws `option` into `element` (a chart already there is replaced), and returns the ECharts instance. */
export function draw(element, option) {
  const chart = echarts.getInstanceByDom(element) ?? echarts.init(element, null, { renderer: 'svg' });
  chart.setOption(option, { notMerge: true });
  return chart;
}

/** Every chart's series as drawn, for whoever checks the page (people in the console, the browser test). */
export function drawnSeries(element) {
  const chart = echarts.getInstanceByDom(element);
  if (!chart) return null;
  return chart.getOption().series.map((s) => ({ name: s.name, type: s.type, data: s.data }));
}

export function resizeAll(elements) {
  for (const element of elements) echarts.getInstanceByDom(element)?.resize();
}

/** Lets go of the charts in `elements` before they leave the page or show something else. */
export function disposeAll(elements) {
  for (const element of elements) echarts.getInstanceByDom(element)?.dispose();
}

/** Units built per bucket (bars) and cumulative (line), the factory's 1,000th units marked on the line. */
export function rampOption(factory, rows, bucket, milestones) {
  const per = bucket === 'day' ? 'day' : 'week';
  return {
    ...base,
    legend: { top: 0 },
    grid: { left: 56, right: 64, top: 48, bottom: 64 },
    dataZoom: [{ type: 'inside' }, { type: 'slider', height: 18, bottom: 10 }],
    xAxis: { type: 'time' },
    yAxis: [
      { type: 'value', name: `units / ${per}`, minInterval: 1 },
      { type: 'value', name: 'cumulative', splitLine: { show: false }, axisLabel: { formatter: (v) => integer.format(v) } },
    ],
    series: [
      {
        name: `Built per ${per}`, type: 'bar', barMaxWidth: 14, itemStyle: { color: '#8fb4dd' },
        data: rows.map((r) => [r.bucketStart, r.unitsBuilt]),
      },
      {
        name: 'Cumulative built', type: 'line', yAxisIndex: 1, showSymbol: false, lineStyle: { width: 2, color: '#1f3b63' },
        itemStyle: { color: '#1f3b63' },
        data: rows.map((r) => [r.lastDay, r.cumulativeUnitsBuilt]),
        markPoint: {
          symbol: 'pin', symbolSize: 38, itemStyle: { color: '#c0392b' },
          label: { fontSize: 9, formatter: (p) => (p.value >= 1000 ? `${p.value / 1000}k` : String(p.value)) },
          data: milestones.filter((m) => m.nth % 1000 === 0)
            .map((m) => ({ name: `${ordinal(m.nth)} unit (${m.serial})`, coord: [m.localDate, m.nth], value: m.nth })),
        },
      },
    ],
    aria: { enabled: true, label: { description: `${factory.name}: units built per ${per} and cumulative.` } },
  };
}

/** The trailing 30-day run rate, annualized, against nameplate; the tooltip gives utilization. */
export function runRateOption(factory, dailyRows) {
  const nameplate = factory.nameplateUnitsPerYear;
  const peak = Math.max(0, ...dailyRows.map((r) => Number(r.runRateUnitsPerYear)));
  return {
    ...base,
    legend: { top: 0 },
    grid: { left: 64, right: 24, top: 48, bottom: 64 },
    dataZoom: [{ type: 'inside' }, { type: 'slider', height: 18, bottom: 10 }],
    xAxis: { type: 'time' },
    yAxis: {
      type: 'value', name: 'units / year', max: nameplate ? roundUp(Math.max(peak, nameplate) * 1.08) : undefined,
      axisLabel: { formatter: (v) => integer.format(v) },
    },
    tooltip: {
      ...base.tooltip,
      valueFormatter: (v) => `${integer.format(v)} / year${nameplate ? ` (${percent.format(v / nameplate)} of nameplate)` : ''}`,
    },
    series: [{
      name: 'Run rate (trailing 30 days, annualized)', type: 'line', showSymbol: false, lineStyle: { width: 2, color: '#16a085' },
      itemStyle: { color: '#16a085' }, areaStyle: { opacity: 0.12 },
      data: dailyRows.map((r) => [r.lastDay, Number(r.runRateUnitsPerYear)]),
      markLine: nameplate ? {
        symbol: 'none', lineStyle: { type: 'dashed', color: '#555' },
        label: { position: 'insideEndTop', formatter: `Nameplate ${integer.format(nameplate)} / year` },
        data: [{ yAxis: nameplate, name: 'Nameplate' }],
      } : undefined,
    }],
    aria: { enabled: true, label: { description: `${factory.name}: trailing 30-day run rate, annualized, against nameplate.` } },
  };
}

/** Up to a round number (12,000 for 10,800), so the axis's top label does not crowd the tick below it. */
function roundUp(value) {
  const step = 10 ** Math.floor(Math.log10(value)) / 5;
  return Math.ceil(value / step) * step;
}

/**
 * Each factory's first and every 1,000th unit: the unit's number against the day it was built, over the time from the
 * first factory's start of production to `today`.
 */
export function milestonesOption(byFactory, from, today) {
  return {
    ...base,
    tooltip: { trigger: 'item', formatter: (p) => `${p.seriesName}: ${p.data.name}<br>${p.data.value[0]}` },
    legend: { top: 0 },
    grid: { left: 64, right: 48, top: 48, bottom: 40 },
    xAxis: { type: 'time', min: from, max: today },
    yAxis: { type: 'value', name: 'unit number', axisLabel: { formatter: (v) => integer.format(v) } },
    series: byFactory.map(({ factory, units }, i) => ({
      name: factory.name, type: 'scatter', symbolSize: 12, itemStyle: { color: factoryColours[i % factoryColours.length] },
      label: { show: true, position: 'top', fontSize: 10, formatter: (p) => ordinal(p.data.value[1]) },
      data: units.map((m) => ({ name: `${ordinal(m.nth)} unit, ${m.serial}`, value: [m.localDate, m.nth] })),
    })),
  };
}

const stages = {
  shipped: { units: 'unitsShipped', mwh: 'shippedMwh' },
  delivered: { units: 'unitsDelivered', mwh: 'deliveredMwh' },
  commissioned: { units: 'unitsCommissioned', mwh: 'commissionedMwh' },
};

/** Quarters along x, one stacked bar series per region; `measure` is 'units' or 'gwh'. */
export function deploymentsOption(rows, stage, measure) {
  const fields = stages[stage];
  const quarters = [...new Set(rows.map((r) => r.bucketStart))].sort();
  const regions = [...new Set(rows.map((r) => r.region))].sort();
  const value = (r) => (measure === 'gwh' ? Number(r[fields.mwh]) / 1000 : r[fields.units]);
  const formatter = measure === 'gwh' ? (v) => `${oneDecimal.format(v)} GWh` : (v) => `${integer.format(v)} units`;
  return {
    ...base,
    legend: { top: 0, type: 'scroll' },
    tooltip: { ...base.tooltip, axisPointer: { type: 'shadow' }, valueFormatter: formatter },
    grid: { left: 64, right: 16, top: 48, bottom: 32 },
    xAxis: { type: 'category', data: quarters.map(quarterName) },
    yAxis: { type: 'value', name: measure === 'gwh' ? 'GWh' : 'units', minInterval: measure === 'gwh' ? 0 : 1 },
    series: regions.map((region) => ({
      name: region, type: 'bar', stack: 'regions', barMaxWidth: 40, itemStyle: { color: regionColours[region] },
      data: quarters.map((q) => {
        const row = rows.find((r) => r.bucketStart === q && r.region === region);
        return row ? value(row) : 0;
      }),
    })),
  };
}

/** "2025-07-01" → "Q3 2025". */
export function quarterName(bucketStart) {
  const [year, month] = bucketStart.split('-').map(Number);
  return `Q${Math.floor((month - 1) / 3) + 1} ${year}`;
}

/** Units in transit now, one bar per destination region, labelled with units and GWh. */
export function inTransitOption(rows) {
  const sorted = [...rows].sort((a, b) => a.units - b.units);
  return {
    ...base,
    tooltip: { ...base.tooltip, axisPointer: { type: 'shadow' }, valueFormatter: (v) => `${integer.format(v)} units` },
    grid: { left: 110, right: 120, top: 16, bottom: 32 },
    xAxis: { type: 'value', name: 'units', minInterval: 1 },
    yAxis: { type: 'category', data: sorted.map((r) => r.region) },
    series: [{
      name: 'In transit', type: 'bar', barMaxWidth: 26,
      data: sorted.map((r) => ({ value: r.units, mwh: Number(r.mwh), itemStyle: { color: regionColours[r.region] } })),
      label: { show: true, position: 'right', formatter: (p) => `${integer.format(p.value)} · ${formatGwh(p.data.mwh)}` },
    }],
  };
}

/** Each read model's position against the head of the feed; colour is its state, the label its lag. */
export function projectionsOption(health) {
  const rows = health.projections;
  return {
    ...base,
    tooltip: {
      trigger: 'item',
      formatter: (p) => {
        const r = rows[p.dataIndex];
        return `${r.name}: ${stateOf(r)}<br>position ${integer.format(r.position)}<br>lag ${integer.format(r.lagEvents)} events, ${r.lagSeconds} s`;
      },
    },
    grid: { left: 140, right: 150, top: 16, bottom: 32 },
    xAxis: { type: 'value', max: Math.max(health.headPosition, ...rows.map((r) => r.position)) || 1 },
    yAxis: { type: 'category', data: rows.map((r) => r.name), inverse: true },
    series: [{
      name: 'Position', type: 'bar', barMaxWidth: 22,
      data: rows.map((r) => ({ value: r.position, itemStyle: { color: stateColours[stateOf(r)] } })),
      label: {
        show: true, position: 'right',
        formatter: (p) => { const r = rows[p.dataIndex]; return `${stateOf(r)} · lag ${integer.format(r.lagEvents)}`; },
      },
      markLine: {
        symbol: 'none', lineStyle: { type: 'dashed', color: '#555' }, label: { formatter: 'head', position: 'start' },
        data: [{ xAxis: health.headPosition, name: 'Head of the feed' }],
      },
    }],
  };
}

/** A projection's state as the dashboard names it: 'failed', 'rebuilding' or 'running'. */
export function stateOf(projection) {
  if (projection.state === 'failed') return 'failed';
  return projection.rebuilding ? 'rebuilding' : 'running';
}
