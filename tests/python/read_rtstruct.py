#!/usr/bin/python3
"""Reads an RTSTRUCT with pydicom (independently of DCMTK) and prints what a planning system would
use, as JSON: the frame of reference and study it references, and per ROI its number, name, colour,
number of contours, whether every contour is CLOSED_PLANAR with 3 finite coordinates per point and
NumberOfContourPoints matching, and which slices the contours reference.

usage: read_rtstruct.py RTSTRUCT.dcm
"""
import json
import math
import sys

import pydicom


def main(path):
    ds = pydicom.dcmread(path)
    rois = {int(r.ROINumber): {"name": str(r.ROIName), "frame": str(r.ReferencedFrameOfReferenceUID)} for r in ds.StructureSetROISequence}
    for rc in ds.ROIContourSequence:
        roi = rois[int(rc.ReferencedROINumber)]
        roi["colour"] = [int(c) for c in rc.ROIDisplayColor]
        contours = getattr(rc, "ContourSequence", [])
        roi["contours"] = len(contours)
        roi["valid"] = all(
            c.ContourGeometricType == "CLOSED_PLANAR" and len(c.ContourData) == 3 * int(c.NumberOfContourPoints)
            and all(math.isfinite(float(v)) for v in c.ContourData) for c in contours)
        roi["slices"] = sorted({str(c.ContourImageSequence[0].ReferencedSOPInstanceUID) for c in contours})
    frame = ds.ReferencedFrameOfReferenceSequence[0]
    study = frame.RTReferencedStudySequence[0]
    print(json.dumps({
        "modality": str(ds.Modality), "sop_class": str(ds.SOPClassUID), "frame_of_reference": str(frame.FrameOfReferenceUID),
        "study": str(study.ReferencedSOPInstanceUID), "study_instance_uid": str(ds.StudyInstanceUID),
        "series": str(study.RTReferencedSeriesSequence[0].SeriesInstanceUID),
        "rois": {str(k): v for k, v in sorted(rois.items())}}))


if __name__ == "__main__":
    main(sys.argv[1])
