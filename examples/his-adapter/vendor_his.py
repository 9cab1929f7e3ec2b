"""A HIS adapter as a loose mengui plugin: one vendor's outpatient exports, mapped column by column.

This vendor's prescription export calls the prescription id 处方流水号, writes dates as YYYYMMDD,
and its item export has TWO money columns: 金额 (the list-price amount) and 实收金额 (what was
actually charged, the amount mengui must audit). The standard aliases would take 金额; this
mapping reads 实收金额 and ignores 金额.

Use it without packaging:  mengui --plugins-dir examples/his-adapter load mengui.db exports/
"""

from mengui_core import InputFormat, hookimpl


@hookimpl
def register_input_formats(register):
    register(InputFormat(
        name="vendor_his_rx",
        kind="prescriptions",
        title="某 HIS 门诊处方主表",
        files=("门诊处方主表_*",),
        columns={
            "rx_id": "处方流水号",
            "rx_date": "开方日期",          # YYYYMMDD
            "patient_id": "个人编号",
            "patient_name": "患者姓名",
            "insurance_type": "医保类别",
            "doctor_code": "开方医生工号",
            "department": "开方科室",
            "disease_codes": "慢病编码",
            "total_amount": "处方总金额",
        },
    ))
    register(InputFormat(
        name="vendor_his_items",
        kind="rx_items",
        title="某 HIS 门诊处方明细",
        files=("门诊处方明细_*",),
        columns={
            "rx_id": "处方流水号",
            "line_no": "明细序号",
            "drug_code": "国家医保编码",
            "drug_name": "药品名称",
            "spec": "规格",
            "quantity": "数量",
            "unit": "单位",
            "unit_price": "单价",
            "amount": "实收金额",            # not 金额, which is the list price
            "days_supply": "天数",
        },
    ))
