"""Record Access Control Point (0x2A52), Glucose Service 1.0 §3.4.

A request is ``opcode u8, operator u8, [operand]``; the operand of a filtered request is
``filter type u8, value``. We only filter on sequence number (filter type 0x01, u16)::

    report all records          01 01
    report records ≥ N          01 03 01 NN NN
    delete all records          02 01
    abort operation             03 00
    report number of all        04 01
    report number ≥ N           04 03 01 NN NN

The server indicates one of two responses, both with the Null operator (0x00)::

    number of stored records    05 00 NN NN            (u16 count)
    response code               06 00 RR CC            (request opcode, response code value)

Responses are parsed strictly: an unknown or request opcode, a non-Null operator, a request
opcode or response code value outside the defined ones, a missing or extra byte all raise
GattFormatError.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from edge.gatt.sfloat import FrameReader


class RacpOpcode(IntEnum):
    """RACP op codes."""

    REPORT_STORED_RECORDS = 0x01
    DELETE_STORED_RECORDS = 0x02
    ABORT_OPERATION = 0x03
    REPORT_NUMBER_OF_STORED_RECORDS = 0x04
    NUMBER_OF_STORED_RECORDS_RESPONSE = 0x05
    RESPONSE_CODE = 0x06


class RacpOperator(IntEnum):
    """RACP operators."""

    NULL = 0x00
    ALL_RECORDS = 0x01
    LESS_THAN_OR_EQUAL = 0x02
    GREATER_THAN_OR_EQUAL = 0x03
    WITHIN_RANGE = 0x04
    FIRST_RECORD = 0x05
    LAST_RECORD = 0x06


class RacpFilterType(IntEnum):
    """RACP operand filter types (Glucose Service)."""

    SEQUENCE_NUMBER = 0x01
    USER_FACING_TIME = 0x02


class RacpResponseCode(IntEnum):
    """RACP response code values (operand of the Response Code op code)."""

    SUCCESS = 0x01
    OPCODE_NOT_SUPPORTED = 0x02
    INVALID_OPERATOR = 0x03
    OPERATOR_NOT_SUPPORTED = 0x04
    INVALID_OPERAND = 0x05
    NO_RECORDS_FOUND = 0x06
    ABORT_UNSUCCESSFUL = 0x07
    PROCEDURE_NOT_COMPLETED = 0x08
    OPERAND_NOT_SUPPORTED = 0x09


_REQUEST_OPCODES = frozenset(
    {
        RacpOpcode.REPORT_STORED_RECORDS,
        RacpOpcode.DELETE_STORED_RECORDS,
        RacpOpcode.ABORT_OPERATION,
        RacpOpcode.REPORT_NUMBER_OF_STORED_RECORDS,
    }
)


_RESPONSE_CODES = frozenset(code.value for code in RacpResponseCode)


def _request(opcode: RacpOpcode, operator: RacpOperator) -> bytes:
    return bytes([opcode, operator])


def _sequence_filter(opcode: RacpOpcode, seq: int) -> bytes:
    if not 0 <= seq <= 0xFFFF:
        raise ValueError(f"a glucose sequence number is 0..65535, got {seq}")
    return bytes(
        [
            opcode,
            RacpOperator.GREATER_THAN_OR_EQUAL,
            RacpFilterType.SEQUENCE_NUMBER,
            seq & 0xFF,
            seq >> 8,
        ]
    )


def racp_report_all() -> bytes:
    """Request: report all stored records (01 01)."""
    return _request(RacpOpcode.REPORT_STORED_RECORDS, RacpOperator.ALL_RECORDS)


def racp_report_greater_or_equal(seq: int) -> bytes:
    """Request: report stored records with sequence number ≥ ``seq`` (01 03 01 lo hi)."""
    return _sequence_filter(RacpOpcode.REPORT_STORED_RECORDS, seq)


def racp_report_number_all() -> bytes:
    """Request: report the number of all stored records (04 01)."""
    return _request(RacpOpcode.REPORT_NUMBER_OF_STORED_RECORDS, RacpOperator.ALL_RECORDS)


def racp_report_number_greater_or_equal(seq: int) -> bytes:
    """Request: report the number of records with sequence number ≥ ``seq`` (04 03 01 lo hi)."""
    return _sequence_filter(RacpOpcode.REPORT_NUMBER_OF_STORED_RECORDS, seq)


def racp_abort() -> bytes:
    """Request: abort the procedure in progress (03 00)."""
    return _request(RacpOpcode.ABORT_OPERATION, RacpOperator.NULL)


def racp_delete_all() -> bytes:
    """Request: delete all stored records (02 01)."""
    return _request(RacpOpcode.DELETE_STORED_RECORDS, RacpOperator.ALL_RECORDS)


@dataclass(frozen=True, slots=True)
class RacpResponse:
    """An RACP indication: a record count (op code 05) or a response code (op code 06)."""

    opcode: RacpOpcode
    number_of_records: int | None = None
    request_opcode: RacpOpcode | None = None
    response_code: RacpResponseCode | None = None

    @property
    def is_success(self) -> bool:
        """True for a Response Code of Success."""
        return self.response_code is RacpResponseCode.SUCCESS

    @property
    def is_no_records_found(self) -> bool:
        """True for a Response Code of No Records Found (a normal end of a download)."""
        return self.response_code is RacpResponseCode.NO_RECORDS_FOUND


def parse_racp_response(data: bytes | bytearray) -> RacpResponse:
    """Parse an RACP indication from the server."""
    reader = FrameReader(data, "Record Access Control Point")
    opcode = reader.u8("opcode")
    if opcode not in (RacpOpcode.NUMBER_OF_STORED_RECORDS_RESPONSE, RacpOpcode.RESPONSE_CODE):
        raise reader.error(f"op code {opcode:#04x} is not a response op code (05 or 06)")
    operator = reader.u8("operator")
    if operator != RacpOperator.NULL:
        raise reader.error(f"response operator must be Null (0x00), got {operator:#04x}")
    if opcode == RacpOpcode.NUMBER_OF_STORED_RECORDS_RESPONSE:
        count = reader.u16("number_of_records")
        reader.finish()
        return RacpResponse(
            opcode=RacpOpcode.NUMBER_OF_STORED_RECORDS_RESPONSE, number_of_records=count
        )
    request = reader.u8("request_opcode")
    code = reader.u8("response_code_value")
    reader.finish()
    if request not in _REQUEST_OPCODES:
        raise reader.error(f"response names request op code {request:#04x}, not a request")
    if code not in _RESPONSE_CODES:
        raise reader.error(f"response code value {code:#04x} is not defined (01..09)")
    return RacpResponse(
        opcode=RacpOpcode.RESPONSE_CODE,
        request_opcode=RacpOpcode(request),
        response_code=RacpResponseCode(code),
    )
