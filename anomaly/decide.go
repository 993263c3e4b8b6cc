package anomaly

import (
	"errors"
	"fmt"

	"github.com/bottleneck-ml/bottleneck/imageio"
	"github.com/bottleneck-ml/bottleneck/imagetask"
)

// ErrNoThreshold is returned when a detector without a threshold is asked
// to decide by its own: a model trained on too few rows to fit one, or
// made without one (New).
var ErrNoThreshold = errors.New("anomaly: the detector has no threshold; give it one (WithThreshold), or pass a threshold spec such as value:X")

// SpecError is a threshold spec that parses but cannot decide where it was
// given: scoring fits a threshold on the scores it has, so a method that
// needs the training data or labelled rows cannot be chosen there. It
// wraps ErrSpec, as ParseSpec's errors do, so callers treat both as a bad
// request.
type SpecError struct {
	Spec string // the spec as given, e.g. "mad:3"
	// Msg names Spec and says what is wrong and what to do instead:
	// "mad:3: scoring can override with value:X or contamination:P; …".
	Msg string
}

func (e *SpecError) Error() string { return "anomaly: threshold " + e.Msg }

// Unwrap returns ErrSpec.
func (e *SpecError) Unwrap() error { return ErrSpec }

// ScoreThreshold says which threshold decides when d scores data with the
// override spec, as a user wrote it ("" keeps d's own), so that every
// program that scores (a command line, a service, a batch job) decides the
// same way. def is the spec fitted on the scores when spec is "" and d has
// no threshold: "" refuses with ErrNoThreshold; image detectors, whose
// model files carry no threshold, pass DefaultSpec.
//
// A threshold known before scoring (d's own, or value:X) comes back as
// th. One fitted on the scores comes back as th == nil and the Spec to fit
// them with, as it needs all of them first: Decide fits it on results in
// memory, FileThreshold on a file it reads once more.
//
// Without def, scoring overrides d's threshold with value:X or
// contamination:P only: the other methods are fitted on the validation
// rows at training (TrainOptions.Threshold). With def, any method but f1
// (which needs labelled rows) is fitted on the scores. Refusals are
// *SpecError; a spec that does not parse gives ParseSpec's error; both
// wrap ErrSpec.
func (d *Detector) ScoreThreshold(spec, def string) (th *Threshold, fit Spec, err error) {
	given := spec
	if spec == "" && d.threshold != nil {
		return d.Threshold(), Spec{}, nil
	}
	if spec == "" {
		spec = def
	}
	if spec == "" {
		return nil, Spec{}, ErrNoThreshold
	}
	sp, err := ParseSpec(spec)
	if err != nil {
		return nil, sp, err
	}
	if given != "" && sp.Method != MethodValue && sp.Method != MethodContamination && def == "" {
		return nil, sp, &SpecError{Spec: given, Msg: fmt.Sprintf("%s: scoring can override with value:X or contamination:P; choose %s thresholds at training (train --threshold)", given, sp.Method)}
	}
	if sp.Method == MethodF1 {
		return nil, sp, &SpecError{Spec: given, Msg: given + " needs labelled validation rows; pass value:X, far:Q, contamination:P, mad:K, sigma:K or pot:Q"}
	}
	if sp.Method == MethodValue {
		t, err := Fit(sp, nil, nil, "")
		if err != nil {
			return nil, sp, err
		}
		t.Score = d.scoring.Metric
		return t, sp, nil
	}
	return nil, sp, nil
}

// Decide sets the Anomaly flags of results, scored by d, by the threshold
// ScoreThreshold(spec, def) names, fitted on their scores when it needs
// them (fittedOn says which they were, for the record: "scored rows"),
// and returns it.
func (d *Detector) Decide(results []Result, spec, def, fittedOn string) (*Threshold, error) {
	th, sp, err := d.ScoreThreshold(spec, def)
	if err != nil {
		return nil, err
	}
	if th == nil {
		if th, err = Fit(sp, Scores(results), nil, fittedOn); err != nil {
			return nil, err
		}
		th.Score = d.scoring.Metric
	}
	for i := range results {
		results[i].Anomaly = th.IsAnomaly(results[i].Score)
	}
	return th, nil
}

// ScoreImages scores pictures with an image autoencoder (ScoreImage: the
// mean squared pixel error) and decides by spec as Decide does, with
// DefaultSpec fitted on these pictures' scores when spec is "" and d has
// no threshold, as image model files carry none. It returns one result
// per picture, in order, and the threshold that decided. The heat-maps
// and reconstructions are not kept: ScoreImage the pictures to draw.
func (d *Detector) ScoreImages(images []*imageio.Image, spec string) ([]Result, *Threshold, error) {
	res := make([]Result, len(images))
	for i, img := range images {
		r, err := d.ScoreImage(img, imagetask.Options{})
		if err != nil {
			return nil, nil, fmt.Errorf("image %d: %w", i, err)
		}
		res[i] = r.Result
	}
	th, err := d.Decide(res, spec, DefaultSpec, "scored images")
	if err != nil {
		return nil, nil, err
	}
	return res, th, nil
}
