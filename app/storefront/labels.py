"""Chinese names of batch event types and certificate kinds, for the trace page and the back office."""

EVENT_LABELS = {
    "planted": "插秧种植",
    "fertilised": "施肥",
    "irrigated": "灌溉",
    "inspected": "检验检测",
    "harvested": "收割",
    "dried": "晾晒烘干",
    "milled": "碾米加工",
    "packed": "包装",
    "shipped": "发货",
    "received": "收货入库",
}
CERTIFICATE_LABELS = {
    "geographical_indication": "地理标志产品",
    "green_food": "绿色食品",
    "organic": "有机产品",
    "inspection_report": "检验报告",
    "other": "其他证书",
}
